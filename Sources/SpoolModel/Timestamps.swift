/// ISO 8601 timestamps to and from epoch milliseconds, by hand: `YYYY-MM-DD`, optionally followed by
/// `THH:MM`, `:SS`, a fraction, and `Z` or `±HH:MM` (a space may stand for the `T`). A time without a zone
/// is UTC, as `JSON.stringify` and Spoolman write it.
public enum Timestamps {
    /// The largest magnitude of a JavaScript `Date`: 8.64e15 ms (100,000,000 days either side of 1970).
    /// Every time filamentdb keeps is an integer within it; `lastUpdated`, a time of change, is also never
    /// negative.
    public static let limit: Int64 = 8_640_000_000_000_000

    /// Whether `ms` is a time a JavaScript `Date` can hold.
    public static func isInRange(_ ms: Double) -> Bool { abs(ms) <= Double(limit) }

    public static func parseISO8601(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2), (1...12).contains(month), (1...daysIn(month, year)).contains(day) else { return nil }
        var ms = Int64(daysFromCivil(year, month, day)) * 86_400_000
        if i == b.count { return ms }
        guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = digits(2), hour < 24, expect(UInt8(ascii: ":")), let minute = digits(2), minute < 60 else { return nil }
        var second = 0, millis = 0
        if expect(UInt8(ascii: ":")) {
            guard let s = digits(2), s < 61 else { return nil }
            second = s
            if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
                var scale = 100, any = false
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                    millis += Int(b[i] - 0x30) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        ms += Int64(hour * 3_600_000 + minute * 60_000 + second * 1000 + millis)
        if i == b.count { return ms }
        if expect(UInt8(ascii: "Z")) || expect(UInt8(ascii: "z")) { return i == b.count ? ms : nil }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
        let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
        i += 1
        guard let oh = digits(2), oh < 24 else { return nil }
        _ = expect(UInt8(ascii: ":"))
        guard let om = digits(2), om < 60, i == b.count else { return nil }
        return ms - sign * Int64(oh * 3_600_000 + om * 60_000)
    }

    /// `2024-03-28T16:50:44.490Z`, as JavaScript's `Date.prototype.toISOString` writes it.
    public static func formatISO8601(_ ms: Int64) -> String {
        let (days, rem) = floorDivide(ms, 86_400_000)
        let (y, m, d) = civilFromDays(Int(days))
        let h = rem / 3_600_000, mi = rem / 60_000 % 60, s = rem / 1000 % 60, f = rem % 1000
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(h), 2)):\(pad(Int(mi), 2)):\(pad(Int(s), 2)).\(pad(Int(f), 3))Z"
    }

    /// `2024-03-28`, the UTC day of `ms`.
    public static func formatISODate(_ ms: Int64) -> String {
        let (days, _) = floorDivide(ms, 86_400_000)
        let (y, m, d) = civilFromDays(Int(days))
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b, r = a % b
        if r < 0 { q -= 1; r += b }
        return (q, r)
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(abs(v))
        return (v < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

import Foundation
import SpoolModel

/// Dates as people write them to the history's commands, and as it prints them.
public enum HistoryDates {
    /// Milliseconds since the epoch for `text`: an ISO 8601 date or date-time (`2024-06-01`,
    /// `2024-06-01T12:00:00+02:00`), or one of git's relative forms: `now`, `today`, `yesterday`, and
    /// `N second(s)|minute(s)|hour(s)|day(s)|week(s)|month(s)|year(s) ago`. `nil` for anything else.
    public static func parse(_ text: String, now: Date = Date()) -> Int64? {
        if let ms = Timestamps.parseISO8601(text) { return ms }
        let words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == "." || $0 == "_" }).map(String.init)
        let nowMS = Int64((now.timeIntervalSince1970 * 1000).rounded())
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        switch words {
        case ["now"]: return nowMS
        case ["today"]: return Int64(calendar.startOfDay(for: now).timeIntervalSince1970 * 1000)
        case ["yesterday"]:
            guard let day = calendar.date(byAdding: .day, value: -1, to: calendar.startOfDay(for: now)) else { return nil }
            return Int64(day.timeIntervalSince1970 * 1000)
        default:
            guard words.count == 3, words[2] == "ago", let n = Int(words[0]), n >= 0 else { return nil }
            let unit = words[1].hasSuffix("s") ? String(words[1].dropLast()) : words[1]
            let components: [String: Calendar.Component] = ["second": .second, "minute": .minute, "hour": .hour, "day": .day,
                                                            "week": .weekOfYear, "month": .month, "year": .year]
            guard let component = components[unit], let date = calendar.date(byAdding: component, value: -n, to: now) else { return nil }
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
    }

    /// `2024-06-01 14:00:00 +0200`: in the local zone with its offset, or in UTC with `utc`.
    public static func format(seconds: Int64, utc: Bool = false) -> String {
        // No DateFormatter per line: the zone's offset at that moment, then the UTC formatter on the shifted time.
        let offset = utc ? 0 : TimeZone.current.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
        let local = Timestamps.formatISO8601((seconds + Int64(offset)) * 1000).prefix(19).replacingOccurrences(of: "T", with: " ")
        let minutes = abs(offset) / 60
        return local + " " + (offset < 0 ? "-" : "+") + String(format: "%02d%02d", minutes / 60, minutes % 60)
    }

    /// What the commands say about a date they could not read.
    public static let expected = "an ISO 8601 date such as 2024-06-01 or 2024-06-01T12:00:00Z, or now, today, yesterday, or '3 days ago'"
}

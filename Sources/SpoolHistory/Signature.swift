import Foundation
import SpoolModel

/// Who made a commit and when: a device (or a role such as `restore` or `review`) and a time.
public struct Signature: Sendable {
    /// The device's name, exactly as given (the commit's `Filamentdb-Device` trailer keeps it whole).
    public var device: String
    /// Seconds since the epoch.
    public var time: Int64

    public init(device: String, time: Int64) {
        self.device = device
        self.time = time
    }

    /// The author name git shows: the device's name without what a git signature cannot hold (`<`, `>`,
    /// line breaks), each replaced by `?`.
    public var name: String {
        let cleaned = Self.gitSafe(device)
        return cleaned.isEmpty ? "device " + SpoolPaths.encode(device) : cleaned
    }

    /// `text` as a commit's author field can hold it: `<`, `>`, line breaks and NUL as `?`, no outer spaces.
    static func gitSafe(_ text: String) -> String {
        // Most names need nothing (checked by bytes: this runs for every commit a server writes).
        let plain = text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x3C && $0 != 0x3E }
        if plain { return text }
        // By Unicode scalars, not Characters: a CR LF is one Character, which matches neither "\r" nor "\n".
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars { out.append("<>\n\r\0".unicodeScalars.contains(u) ? "?" : u) }
        return String(out).trimmingCharacters(in: .whitespaces)
    }

    public var email: String { SpoolPaths.encode(device) + "@filamentdb.invalid" }

    /// The trailer line naming the device.
    var trailer: String { "Filamentdb-Device: " + JSONValue.string(device).jsonText }
}

/// Told how far a long operation is: `done` of `total` spools. Called from the store's executor, every few
/// thousand spools.
public typealias HistoryProgress = @Sendable (_ done: Int, _ total: Int) -> Void

/// The time source of a store: the wall clock, or a fixed or stepping one in tests and demos.
public struct HistoryClock: Sendable {
    public let seconds: @Sendable () -> Int64

    public init(_ seconds: @escaping @Sendable () -> Int64) { self.seconds = seconds }

    public static let system = HistoryClock { Int64(Date().timeIntervalSince1970) }
    public static func fixed(_ seconds: Int64) -> HistoryClock { HistoryClock { seconds } }
}

extension CommitInfo {
    /// The device that made the commit: its `Filamentdb-Device` trailer, else the author's name.
    public var device: String {
        if let t = trailer("Filamentdb-Device"), let v = try? JSONParser.parse(t), let s = v.stringValue { return s }
        return authorName
    }
}

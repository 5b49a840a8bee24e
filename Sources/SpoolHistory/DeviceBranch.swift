import SpoolModel

/// A device's name as a branch: any name (unicode, spaces, `/`, `..`, `main`, up to ``maximumBytes`` bytes)
/// maps to a valid, reversible and collision-free reference under `refs/heads/devices/`.
///
/// The name's bytes are encoded as spool file names are (``SpoolPaths/encode(_:)``: lowercase letters, digits
/// and `-` stay, an uppercase letter becomes `+` and its lowercase, any other byte `%` and two hex digits), so
/// no name can leave the namespace, end in `.lock`, hold `..` or differ from another only by case. An encoded
/// name longer than 200 bytes is cut into folders, each but the last ending in `=` (which encoding never
/// writes), so a long name never needs a folder where a shorter name has a file.
public enum DeviceBranch {
    public static let namespace = "refs/heads/devices/"
    /// A `deviceId` of the sync protocol is 1-128 characters; 512 bytes hold any 128 of them.
    public static let maximumBytes = 512
    static let segmentBytes = 200

    /// The reference of `device`'s branch; ``HistoryError/Code/invalidName`` for an empty or too long name.
    public static func reference(for device: String) throws(HistoryError) -> String {
        guard !device.isEmpty else { throw HistoryError(.invalidName, "a device name cannot be empty") }
        guard device.utf8.count <= maximumBytes else {
            throw HistoryError(.invalidName, "a device name is at most \(maximumBytes) bytes; this one has \(device.utf8.count)")
        }
        var rest = Substring(SpoolPaths.encode(device))
        var parts: [Substring] = []
        while rest.utf8.count > segmentBytes {
            var cut = rest.index(rest.startIndex, offsetBy: segmentBytes)
            // Cut before an escape, never inside one.
            while cut > rest.startIndex, rest[rest.index(before: cut)] == "%" || rest[rest.index(before: cut)] == "+"
                    || (rest.distance(from: rest.startIndex, to: cut) >= 2 && rest[rest.index(cut, offsetBy: -2)] == "%") {
                cut = rest.index(before: cut)
            }
            parts.append(rest[..<cut] + "=")
            rest = rest[cut...]
        }
        parts.append(rest)
        return namespace + parts.joined(separator: "/")
    }

    /// The device a reference stands for; `nil` for any reference ``reference(for:)`` does not write.
    public static func device(ofReference reference: String) -> String? {
        guard reference.hasPrefix(namespace) else { return nil }
        let parts = reference.dropFirst(namespace.count).split(separator: "/", omittingEmptySubsequences: false)
        guard let last = parts.last, !last.hasSuffix("=") else { return nil }
        var encoded = ""
        for p in parts.dropLast() {
            guard p.hasSuffix("=") else { return nil }
            encoded += p.dropLast()
        }
        encoded += last
        guard let device = SpoolPaths.decode(encoded), (try? Self.reference(for: device)) == reference else { return nil }
        return device
    }

    /// The branch a device had before device branches had their own namespace (`refs/heads/<device>`), when its
    /// name was a valid reference then.
    static func legacyReference(for device: String) -> String? {
        guard device != "main", !device.hasPrefix("devices/"), !device.isEmpty else { return nil }
        let forbidden: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\", "\u{7F}"]
        if device.contains(where: { forbidden.contains($0) || ($0.asciiValue.map { $0 < 0x20 } ?? false) }) { return nil }
        if device.contains("..") || device.contains("@{") || device.contains("//") || device.hasSuffix(".lock")
            || device.hasSuffix(".") || device.hasSuffix("/") || device.hasPrefix("/") || device == "@" { return nil }
        if device.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { return nil }
        return "refs/heads/" + device
    }
}

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
    /// The longest readable encoding; a longer one is written in base32 (at most 820 bytes for 512).
    static let readableBytes = 800

    /// The reference of `device`'s branch; ``HistoryError/Code/invalidName`` for an empty or too long name.
    public static func reference(for device: String) throws(HistoryError) -> String {
        guard !device.isEmpty else { throw HistoryError(.invalidName, "a device name cannot be empty") }
        guard device.utf8.count <= maximumBytes else {
            throw HistoryError(.invalidName, "a device name is at most \(maximumBytes) bytes; this one has \(device.utf8.count)")
        }
        var encoded = SpoolPaths.encode(device)
        // git refuses a reference name over 1,024 bytes: a name that escapes most of its bytes (128 emoji) is
        // written in base32 instead, marked by a leading `=` that the readable form never has.
        if encoded.utf8.count > readableBytes { encoded = "=" + Base32.encode(Array(device.utf8)) }
        var rest = Substring(encoded)
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
        let device: String?
        if encoded.hasPrefix("=") {
            device = Base32.decode(encoded.dropFirst()).flatMap { String(validating: $0, as: UTF8.self) }
        } else {
            device = SpoolPaths.decode(encoded)
        }
        guard let device, (try? Self.reference(for: device)) == reference else { return nil }
        return device
    }

    /// The branch a device had before device branches had their own namespace (`refs/heads/<device>`), when its
    /// name was a valid reference then.
    static func legacyReference(for device: String) -> String? {
        guard device != "main", !device.hasPrefix("devices/"), !device.isEmpty, device.utf8.count <= segmentBytes else { return nil }
        let forbidden: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\", "\u{7F}"]
        if device.contains(where: { forbidden.contains($0) || ($0.asciiValue.map { $0 < 0x20 } ?? false) }) { return nil }
        if device.contains("..") || device.contains("@{") || device.contains("//") || device.hasSuffix(".lock")
            || device.hasSuffix(".") || device.hasSuffix("/") || device.hasPrefix("/") || device == "@" { return nil }
        if device.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { return nil }
        return "refs/heads/" + device
    }
}

/// RFC 4648 base32 in lowercase without padding: letters and digits only, one case, 8 characters per 5 bytes.
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for b in bytes {
            buffer = (buffer << 8) | Int(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for c in text.utf8 {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            buffer = ((buffer << 5) | v) & 0xFFFF
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

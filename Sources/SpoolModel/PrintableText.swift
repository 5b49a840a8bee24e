/// Text another party chose (a request's device id, a server's error message), made safe to print or log: its
/// control characters (C0, DEL, C1, the line and paragraph separators) written as `\u{…}`, so it cannot forge a
/// line of its own nor drive the terminal that shows it, and so are the marks that reorder text shown right to
/// left (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), which could make the rest of a line read
/// otherwise than it is; cut to `limit` characters.
public func printableText(_ text: String, limit: Int = .max) -> String {
    func control(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029
            || v == 0x061C || v == 0x200E || v == 0x200F || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
    }
    var cut = text
    if text.count > limit { cut = String(text.prefix(limit)) + "… (\(text.count - limit) more characters)" }
    guard cut.unicodeScalars.contains(where: control) else { return cut }
    var out = String.UnicodeScalarView()
    for u in cut.unicodeScalars {
        if control(u) { out.append(contentsOf: "\\u{\(String(u.value, radix: 16))}".unicodeScalars) } else { out.append(u) }
    }
    return String(out)
}

/// `text` with each occurrence of `secret` replaced by `<key>` (a key a client put in its URL's path, a key a
/// server echoed in its error). Every window of the secret's length is compared in full, with no early exit, so
/// the time taken says nothing of how much of the secret a window matched.
public func redacting(_ secret: [UInt8], in text: [UInt8]) -> [UInt8] {
    guard !secret.isEmpty, text.count >= secret.count else { return text }
    var out: [UInt8] = []
    var at = 0
    for start in 0...(text.count - secret.count) {
        var difference: UInt8 = 0
        for i in secret.indices { difference |= secret[i] ^ text[start + i] }
        if difference == 0, start >= at {
            out += text[at..<start]
            out += Array("<key>".utf8)
            at = start + secret.count
        }
    }
    return at == 0 ? text : out + text[at...]
}

/// Text another party chose (a request's device id, a server's error message), made safe to print or log: its
/// control characters (C0, DEL, C1, the line and paragraph separators) written as `\u{…}`, so it cannot forge a
/// line of its own nor drive the terminal that shows it, and cut to `limit` characters.
public func printableText(_ text: String, limit: Int = .max) -> String {
    func control(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 }
    var cut = text
    if text.count > limit { cut = String(text.prefix(limit)) + "… (\(text.count - limit) more characters)" }
    guard cut.unicodeScalars.contains(where: control) else { return cut }
    var out = String.UnicodeScalarView()
    for u in cut.unicodeScalars {
        if control(u) { out.append(contentsOf: "\\u{\(String(u.value, radix: 16))}".unicodeScalars) } else { out.append(u) }
    }
    return String(out)
}

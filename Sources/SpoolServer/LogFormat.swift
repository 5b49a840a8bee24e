import Logging

/// How the server's log lines write a metadata value (`key=value`, as logfmt): in quotes, its `"` and `\` escaped,
/// when it holds a space, a `=` or a quote, or nothing, so that no value can read as more fields. What a request
/// chose (its device id) made a line that a parser of `key=value` pairs read as status 500 with `x status=500`;
/// the server's own messages (a publish failure's `error=`) hold spaces too. Applied by the handler to every line
/// (`filamentdb serve`'s ``ServerLogHandler``, and the tests' collector), not by each place that logs.
public enum LogFormat {
    public static func value(_ value: Logger.MetadataValue) -> String {
        let text = value.description
        guard text.isEmpty || text.utf8.contains(where: { $0 == 0x20 || $0 == 0x3D || $0 == 0x22 }) else { return text }
        var out = "\""
        for c in text.unicodeScalars {
            if c == "\"" || c == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "\""
    }
}

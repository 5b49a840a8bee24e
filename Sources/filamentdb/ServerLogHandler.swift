import Foundation
import Logging
import SpoolServer
#if canImport(Glibc)
import Glibc
#endif

/// `serve`'s log handler: the lines swift-log's `StreamLogHandler` writes to standard error
/// (`<time> <level> <label>: <metadata by key> [<source>] <message>`), built as bytes and written with one
/// `write(2)`, the time formatted once a second. `StreamLogHandler` formatted the local time afresh for every line
/// (a `localtime` that looks at `/etc/localtime` again each time) and wrote through a locked, flushed `FILE`: with
/// one line per request, that was 4% of the server's CPU with 8 devices syncing.
struct ServerLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // As StreamLogHandler merges them: the handler's, the provider's, the statement's, then the error.
        var all = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var line = Self.clock.now()
        line += " \(event.level)"
        if !label.isEmpty { line += " " + label }
        line += ":"
        for key in all.keys.sorted() { line += " \(key)=" + LogFormat.value(all[key]!) }
        line += " [\(event.source)] \(event.message)\n"
        line.withUTF8 { raw in
            var done = 0
            while done < raw.count {
                let n = write(2, raw.baseAddress! + done, raw.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }

    static let clock = SecondClock()

    /// The local time as `StreamLogHandler` writes it (`%Y-%m-%dT%H:%M:%S%z`), formatted once per second.
    final class SecondClock: @unchecked Sendable {
        private let lock = NSLock()
        private var second: time_t = -1
        private var text = ""

        func now() -> String {
            var t = time(nil)
            return lock.withLock {
                if t != second {
                    var local = tm()
                    var buffer = [Int8](repeating: 0, count: 64)
                    if localtime_r(&t, &local) != nil, strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local) > 0 {
                        text = String(cString: buffer)
                    } else {
                        text = "<unknown>"
                    }
                    second = t
                }
                return text
            }
        }
    }
}

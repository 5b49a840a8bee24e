#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where a writer puts its bytes: memory, or a file written in 1 MiB chunks so an output is never held
/// whole. A file sink writes to a temporary file beside the target and renames it into place on
/// ``commit()``: the output appears whole or not at all.
public final class ByteSink {
    /// The bytes not yet flushed (all of them, for a memory sink).
    public var buffer: [UInt8] = []
    private let fd: Int32?
    /// The file written, `-` for standard output, `nil` for memory.
    let path: String?
    private let temp: String?
    private var done = false
    static let chunk = 1 << 20

    /// A sink that keeps everything in ``buffer``.
    public init() {
        fd = nil
        path = nil
        temp = nil
    }

    /// A sink writing to `path` (through a temporary file) or to standard output for `-`.
    public init(file path: String) throws(ConversionError) {
        self.path = path
        if path == "-" {
            fd = 1
            temp = nil
            return
        }
        let t = FileIO.temporaryPath(for: path)
        let d = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard d >= 0 else {
            throw .io(path: path, reason: "cannot create a file in \(URL(fileURLWithPath: path).deletingLastPathComponent().path): \(FileIO.errnoText())")
        }
        fd = d
        temp = t
        buffer.reserveCapacity(ByteSink.chunk + 64 * 1024)
    }

    deinit {
        if !done, let temp, let fd {
            close(fd)
            unlink(temp)
        }
    }

    public func append(_ bytes: [UInt8]) throws(ConversionError) {
        buffer.append(contentsOf: bytes)
        try flushIfFull()
    }

    /// Writes the buffer out once it holds a chunk (file sinks only).
    public func flushIfFull() throws(ConversionError) {
        if fd != nil, buffer.count >= ByteSink.chunk { try flush() }
    }

    private func flush() throws(ConversionError) {
        guard let fd else { return }
        var written = 0
        while written < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path ?? "-", reason: "cannot write: \(FileIO.errnoText())")
            }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes the rest and, for a file, moves it into place.
    public func commit() throws(ConversionError) {
        try flush()
        done = true
        guard let temp, let fd, let path else { return }
        close(fd)
        try FileIO.commitTemporary(temp, to: path)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reading inputs and writing outputs so that an output file appears whole or not at all.
public enum FileIO {
    /// The bytes of `path`, or of standard input for `-`.
    public static func read(_ path: String) throws(ConversionError) -> [UInt8] {
        if path == "-" {
            return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, reason: "cannot stat: \(errnoText())") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw .io(path: path, reason: "is a directory, not a file") }
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "cannot read: \(errnoText())")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// The first `limit` bytes of `path` (fewer if it is shorter).
    public static func read(_ path: String, upTo limit: Int) throws(ConversionError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot open: \(errnoText())") }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: limit)
        let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) }
        return n > 0 ? Array(out[..<n]) : []
    }

    /// The size of the file at `path` in bytes (0 if it cannot be read).
    public static func size(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    /// Writes `bytes` to `path` through a temporary file in the same folder, flushed to disk and renamed
    /// over `path`: a reader sees the old file or the new one, never a part. `-` writes to standard output.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ConversionError) {
        if path == "-" {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let temp = temporaryPath(for: path)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot create a file in \(dir): \(errnoText())") }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = errnoText()
                close(fd)
                throw .io(path: path, reason: "cannot write: \(reason)")
            }
            written += n
        }
        if fsync(fd) != 0 {
            let reason = errnoText()
            close(fd)
            throw .io(path: path, reason: "cannot flush to disk: \(reason)")
        }
        close(fd)
        guard rename(temp, path) == 0 else { throw .io(path: path, reason: "cannot rename into place: \(errnoText())") }
        ok = true
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// A path for a temporary file beside `path` (same folder, so a rename is atomic).
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// Flushes the finished temporary file `temp` to disk and renames it over `path`.
    static func commitTemporary(_ temp: String, to path: String) throws(ConversionError) {
        let fd = open(temp, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot reopen the temporary file: \(errnoText())") }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, rename(temp, path) == 0 else {
            let reason = errnoText()
            unlink(temp)
            throw .io(path: path, reason: "cannot move the finished file into place: \(reason)")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dfd = open(dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

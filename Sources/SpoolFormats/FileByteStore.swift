#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SpoolModel

/// Keeps stored spools' bytes in a nameless temporary file (``FileIO/TemporaryFile``: nothing is left behind,
/// whatever happens), written in 1 MiB chunks and read back with `pread`. The kernel's page cache, not the
/// process, holds the inventory while a conversion writes it out.
final class FileByteStore: SpoolByteStore {
    private let file: FileIO.TemporaryFile
    private var fd: Int32 { file.fd }
    private var spans: [(offset: Int, count: Int)] = []
    private var pending: [UInt8] = []
    private var flushedEnd = 0
    private let lock = NSLock()
    private var _failure: String?
    /// The first error reading or writing the file; writers check it before an output is moved into place.
    /// (Reads may come from several threads at once, after all writes.)
    var failure: String? {
        lock.lock(); defer { lock.unlock() }
        return _failure
    }

    private func fail(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        if _failure == nil { _failure = message }
    }

    init?() {
        guard let file = try? FileIO.TemporaryFile(in: FileManager.default.temporaryDirectory.path, for: "filamentdb-spill", reportingAs: "spill") else { return nil }
        // A named fallback is not needed by name: remove it at once.
        if !file.path.hasPrefix("/proc/") { unlink(file.path) }
        self.file = file
        pending.reserveCapacity(ByteSink.chunk + 4096)
    }

    func put(_ bytes: [UInt8]) -> Int {
        spans.append((flushedEnd + pending.count, bytes.count))
        pending.append(contentsOf: bytes)
        if pending.count >= ByteSink.chunk { flush() }
        return spans.count - 1
    }

    func get(_ handle: Int) -> [UInt8] {
        let span = spans[handle]
        if span.offset >= flushedEnd {
            let start = span.offset - flushedEnd
            return Array(pending[start..<(start + span.count)])
        }
        return [UInt8](unsafeUninitializedCapacity: span.count) { buffer, initialized in
            var done = 0
            while done < span.count {
                let n = pread(fd, buffer.baseAddress! + done, span.count - done, off_t(span.offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            if done < span.count {
                fail("cannot read back the temporary spool file: \(FileIO.errnoText())")
                for i in done..<span.count { buffer[i] = 0x20 }
            }
            initialized = span.count
        }
    }

    private func flush() {
        var written = 0
        while written < pending.count {
            let n = pending.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(flushedEnd + written)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                fail("cannot write the temporary spool file (is the disk full?): \(FileIO.errnoText())")
                return
            }
            written += n
        }
        flushedEnd += pending.count
        pending.removeAll(keepingCapacity: true)
    }
}

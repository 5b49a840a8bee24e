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

    /// Writes `bytes` to `path` as every output is written (see ``Output``). `-` writes to standard output.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ConversionError) {
        let output = try Output(path)
        try output.write(bytes)
        try output.commit()
    }

    // MARK: where an output goes

    /// What writing to a path means.
    enum Target: Equatable {
        case standardOutput
        /// A regular file, or none yet: replaced whole by renaming a finished file over it. Through symbolic
        /// links, the file they lead to (the links stay).
        case file(String)
        /// A device, a FIFO, a socket, or a file reached through `/proc` (`/dev/stdout`): written in place,
        /// as any Unix tool writes it.
        case inPlace(String)
    }

    static func target(of path: String) throws(ConversionError) -> Target {
        if path == "-" { return .standardOutput }
        // Follow the links one at a time, so that a link to a file not there yet still names where to create it.
        var current = path
        var throughProc = path.hasPrefix("/proc/")
        for _ in 0..<40 {
            var st = stat()
            guard lstat(current, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { break }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            guard n > 0 else { break }
            let destination = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = destination.hasPrefix("/") ? destination : directory(of: current) + "/" + destination
            if current.hasPrefix("/proc/") { throughProc = true }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return .file(current) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw .io(path: path, reason: "is a directory, not a file")
        case S_IFREG: return throughProc ? .inPlace(path) : .file(current)
        default: return .inPlace(path)
        }
    }

    /// The folder of `path` (`.` for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    // MARK: temporary files

    /// A new file with no name, in a folder (Linux `O_TMPFILE`): it vanishes with the process, killed or not,
    /// until ``commit(as:reportingAs:)`` links it into place. Where the file system cannot make such files, a
    /// named temporary file `.NAME.PID.N.tmp`; the next one made for the same NAME in that folder removes
    /// those whose process is gone.
    public final class TemporaryFile {
        /// Open for reading and writing.
        public let fd: Int32
        /// A path that opens this same file: `/proc/self/fd/N`, or the temporary name.
        public let path: String
        let folder: String
        private let isNamed: Bool
        private var committed = false

        /// A temporary file in `folder` for a file to be called `name`; errors name `reportingAs`.
        public init(in folder: String, for name: String, reportingAs: String) throws(ConversionError) {
            self.folder = folder
            FileIO.removeStaleTemporaries(in: folder, for: name)
            #if os(Linux)
            // O_TMPFILE is `__O_TMPFILE | O_DIRECTORY`, a macro Swift does not import.
            let anonymous = open(folder, 0o20000000 | O_DIRECTORY | O_RDWR | O_CLOEXEC, 0o644)
            if anonymous >= 0 {
                fd = anonymous
                path = "/proc/self/fd/\(anonymous)"
                isNamed = false
                return
            }
            // Only a file system without O_TMPFILE falls back; other errors are the folder's.
            if errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL {
                throw .io(path: reportingAs, reason: "cannot create a file in \(folder): \(errnoText())")
            }
            #endif
            let named = FileIO.temporaryPath(for: folder + "/" + name)
            let d = open(named, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard d >= 0 else { throw .io(path: reportingAs, reason: "cannot create a file in \(folder): \(errnoText())") }
            fd = d
            path = named
            isNamed = true
        }

        deinit {
            close(fd)
            if isNamed && !committed { unlink(path) }
        }

        /// Flushes the file to disk and renames it over `target` (in the same folder), then flushes the folder.
        public func commit(as target: String, reportingAs: String) throws(ConversionError) {
            guard fsync(fd) == 0 else { throw .io(path: reportingAs, reason: "cannot flush to disk: \(errnoText())") }
            var named = path
            if !isNamed {
                // linkat cannot replace a file: link under a temporary name, then rename that over the target.
                named = FileIO.temporaryPath(for: target)
                guard linkat(AT_FDCWD, path, AT_FDCWD, named, AT_SYMLINK_FOLLOW) == 0 else {
                    throw .io(path: reportingAs, reason: "cannot give the finished file its name: \(errnoText())")
                }
            }
            guard rename(named, target) == 0 else {
                let reason = errnoText()
                if !isNamed { unlink(named) }
                throw .io(path: reportingAs, reason: "cannot move the finished file into place: \(reason)")
            }
            committed = true
            let dfd = open(FileIO.directory(of: target), O_RDONLY | O_CLOEXEC)
            if dfd >= 0 { fsync(dfd); close(dfd) }
        }

        /// Copies the whole file into `out`, a descriptor written in place.
        func copy(to out: Int32, reportingAs: String) throws(ConversionError) {
            var chunk = [UInt8](repeating: 0, count: ByteSink.chunk)
            var offset: off_t = 0
            while true {
                let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw .io(path: reportingAs, reason: "cannot read back the temporary file: \(errnoText())") }
                if n == 0 { return }
                try FileIO.writeAll(chunk[..<n], to: out, reportingAs: reportingAs)
                offset += off_t(n)
            }
        }
    }

    /// An output being written: into a ``TemporaryFile`` beside a regular target, moved into place by
    /// ``commit()``; straight into a device, a FIFO or standard output. `seekable` asks for a temporary file
    /// in every case (SQLite needs one), copied into a target that is not a regular file on commit.
    public final class Output {
        /// The path as given, for messages.
        public let path: String
        let target: Target
        /// Where the bytes go.
        public let fd: Int32
        /// The file being written, when there is one (SQLite opens it by ``TemporaryFile/path``).
        public let temporary: TemporaryFile?
        private let ownsFD: Bool

        public init(_ path: String, seekable: Bool = false) throws(ConversionError) {
            self.path = path
            target = try FileIO.target(of: path)
            switch target {
            case .file(let file):
                let t = try TemporaryFile(in: FileIO.directory(of: file), for: FileIO.name(of: file), reportingAs: path)
                temporary = t
                fd = t.fd
                ownsFD = false
            case .standardOutput, .inPlace:
                if seekable {
                    let t = try TemporaryFile(in: FileManager.default.temporaryDirectory.path, for: "output", reportingAs: path)
                    temporary = t
                    fd = t.fd
                    ownsFD = false
                } else if case .inPlace(let p) = target {
                    let d = open(p, O_WRONLY | O_CLOEXEC)
                    guard d >= 0 else { throw .io(path: path, reason: "cannot open for writing: \(errnoText())") }
                    temporary = nil
                    fd = d
                    ownsFD = true
                } else {
                    temporary = nil
                    fd = 1
                    ownsFD = false
                }
            }
        }

        deinit { if ownsFD { close(fd) } }

        public func write(_ bytes: [UInt8]) throws(ConversionError) {
            try FileIO.writeAll(bytes[...], to: fd, reportingAs: path)
        }

        /// Makes the output appear: renames the finished file into place, or copies it into a target that is
        /// not a regular file.
        public func commit() throws(ConversionError) {
            guard let temporary else { return }
            switch target {
            case .file(let file): try temporary.commit(as: file, reportingAs: path)
            case .standardOutput: try temporary.copy(to: 1, reportingAs: path)
            case .inPlace(let p):
                let d = open(p, O_WRONLY | O_CLOEXEC)
                guard d >= 0 else { throw .io(path: path, reason: "cannot open for writing: \(errnoText())") }
                defer { close(d) }
                try temporary.copy(to: d, reportingAs: path)
            }
        }
    }

    static func writeAll(_ bytes: ArraySlice<UInt8>, to fd: Int32, reportingAs path: String) throws(ConversionError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "cannot write: \(errnoText())")
            }
            written += n
        }
    }

    /// Removes `.NAME.PID.N.tmp` files in `folder` whose process is gone: what a writer killed between
    /// naming its file and renaming it leaves, or any writer where nameless files are not available.
    static func removeStaleTemporaries(in folder: String, for name: String) {
        let prefix = "." + name + "."
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(".tmp") {
            let middle = entry.dropFirst(prefix.count).dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
            guard middle.count == 2, let pid = Int32(middle[0]), pid > 0, UInt32(middle[1]) != nil else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + entry) }
        }
    }

    /// A name for a temporary file beside `path` (same folder, so a rename is atomic): `.NAME.PID.N.tmp`.
    static func temporaryPath(for path: String) -> String {
        directory(of: path) + "/." + name(of: path) + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// Flushes the finished named temporary file `temp` (from ``temporaryPath(for:)``) to disk and renames it
    /// over `path`. New writers use ``Output``, whose temporary files vanish with the process.
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
        let dfd = open(directory(of: path), O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

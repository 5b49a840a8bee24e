#if canImport(Glibc)
import Glibc
#endif
import GRDBSQLite

/// Lets SQLite write into a ``FileIO/TemporaryFile`` that has no name yet, through `/proc/self/fd/N`. SQLite
/// resolves symbolic links in a database's path (that one would become the name `… (deleted)`: a new, wrong
/// file) and opens with `O_NOFOLLOW`. Registered once as the default VFS: SQLite's own, with both steps
/// skipped for `/proc/self/fd/` paths only (the `open` through SQLite's documented `xSetSystemCall`).
enum SQLiteAnonymousFiles {
    nonisolated(unsafe) static var base: UnsafeMutablePointer<sqlite3_vfs>?
    typealias OpenCall = @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> Int32  // SQLite's posixOpen(const char *, int, int)
    nonisolated(unsafe) static var originalOpen: OpenCall?

    /// Whether the VFS is in place (it is unless SQLite has no default VFS to wrap).
    static let registered: Bool = {
        guard let original = sqlite3_vfs_find(nil) else { return false }
        base = original
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        vfs.initialize(to: original.pointee)
        vfs.pointee.zName = UnsafePointer(strdup("filamentdb-anonymous-files"))
        vfs.pointee.xFullPathname = { vfs, name, size, out in
            guard let name, let out, let base = SQLiteAnonymousFiles.base else { return SQLITE_ERROR }
            if strncmp(name, "/proc/self/fd/", 14) == 0 {
                let length = strlen(name)
                guard length < Int(size) else { return SQLITE_CANTOPEN }
                memcpy(out, name, length + 1)
                return SQLITE_OK
            }
            return base.pointee.xFullPathname(base, name, size, out)
        }
        guard let setSystemCall = original.pointee.xSetSystemCall, let getSystemCall = original.pointee.xGetSystemCall,
              let open = getSystemCall(original, "open") else { return false }
        originalOpen = unsafeBitCast(open, to: OpenCall.self)
        let reopening: OpenCall = { path, flags, mode in
            guard let path, let originalOpen = SQLiteAnonymousFiles.originalOpen else { return -1 }
            if strncmp(path, "/proc/self/fd/", 14) == 0 { return originalOpen(path, flags & ~O_NOFOLLOW, mode) }
            return originalOpen(path, flags, mode)
        }
        guard setSystemCall(original, "open", unsafeBitCast(reopening, to: sqlite3_syscall_ptr.self)) == SQLITE_OK else { return false }
        return sqlite3_vfs_register(vfs, 1) == SQLITE_OK
    }()
}

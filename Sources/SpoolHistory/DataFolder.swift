import Foundation

/// Where filamentdb keeps its data: a folder named by the caller, else `$SYNC_DATA_DIR` (the sync plan's
/// variable), else `$XDG_DATA_HOME/filamentdb`, else `~/.local/share/filamentdb`. The history is the folder's
/// `history.git`.
public enum DataFolder {
    public static let variable = "SYNC_DATA_DIR"
    public static let historyName = "history.git"

    public static func resolve(_ given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let given, !given.isEmpty { return given }
        if let dir = environment[variable], !dir.isEmpty { return dir }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/filamentdb" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/filamentdb"
    }

    /// The history repository of a data folder.
    public static func historyPath(in folder: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(historyName).path
    }

    /// Refuses a data folder that exists but is not a folder, with what to do.
    public static func check(_ folder: String) throws(HistoryError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw HistoryError(.io, "is a file, not a folder: the data folder holds history.git", path: folder)
        }
        let history = historyPath(in: folder)
        if FileManager.default.fileExists(atPath: history, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw HistoryError(.folderNotEmpty, "\(historyName) is a file, not a history repository; move it away", path: history)
        }
    }
}

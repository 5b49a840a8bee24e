import Foundation

/// Copies a history a server may be writing to (a crash's snapshot of the disk): a temporary pack its background
/// thread is writing, or removing, is left out (a crash leaves it as garbage that the next writer ignores), and a
/// file that goes while the copy runs is skipped. `FileManager.copyItem` failed a test when one went mid-copy.
public func copyLiveHistory(_ source: String, to destination: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
    guard let names = fm.enumerator(atPath: source) else { return }
    for case let name as String in names {
        if (name as NSString).lastPathComponent.hasPrefix("tmp_") { continue }
        let from = source + "/" + name, to = destination + "/" + name
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: from, isDirectory: &isFolder) else { continue }
        if isFolder.boolValue {
            try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
        } else {
            do {
                try fm.copyItem(atPath: from, toPath: to)
            } catch where !fm.fileExists(atPath: from) {
                continue
            }
        }
    }
}

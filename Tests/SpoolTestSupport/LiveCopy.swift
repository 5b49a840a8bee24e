import Foundation

/// Copies a history a server may be writing to (a crash's snapshot of the disk): a temporary pack its background
/// thread is writing, or removing, is left out (a crash leaves it as garbage that the next writer ignores), and a
/// file that goes while the copy runs is skipped. `FileManager.copyItem` failed a test when one went mid-copy.
///
/// The packs are copied last, and their folder again until a pass finds no pack it had not copied: a branch copied
/// names a commit whose pack was written before it, and a pack that goes (combined into another) goes only once its
/// combination is in place, which a later pass finds. (Copied in one walk, a branch could name a commit whose pack
/// the walk had passed before it was written, and whose earlier pack went before the walk reached it.)
public func copyLiveHistory(_ source: String, to destination: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
    let packs = "objects/pack"
    func copy(_ name: String) throws -> Bool {
        if (name as NSString).lastPathComponent.hasPrefix("tmp_") { return false }
        let from = source + "/" + name, to = destination + "/" + name
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: from, isDirectory: &isFolder) else { return false }
        if isFolder.boolValue {
            try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
            return false
        }
        if fm.fileExists(atPath: to) { return false }
        do {
            try fm.copyItem(atPath: from, toPath: to)
            return true
        } catch where !fm.fileExists(atPath: from) {
            return false
        }
    }
    guard let names = fm.enumerator(atPath: source) else { return }
    for case let name as String in names where name != packs && !name.hasPrefix(packs + "/") { _ = try copy(name) }
    try fm.createDirectory(atPath: destination + "/" + packs, withIntermediateDirectories: true)
    for _ in 0..<20 {
        var copied = false
        for name in (try? fm.contentsOfDirectory(atPath: source + "/" + packs)) ?? [] where try copy(packs + "/" + name) { copied = true }
        if !copied { break }
    }
}

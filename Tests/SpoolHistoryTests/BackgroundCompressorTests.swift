import Foundation
@testable import SpoolHistory
import SpoolTestSupport
import Testing

/// How a journaled writer's packs are combined in the background: every `GitRepository.combineCount` packs of
/// a level become one, but the pack of a large write (a batch of an upload) stays alone; stock git reads every
/// object throughout.
@Suite struct BackgroundCompressorTests {
    /// One small pack's worth of objects, unlike any other pack's.
    func objects(_ pack: Int) -> [PackWriter.Object] {
        (0..<3).map { k in
            let bytes = Array("{\"pack\": \(pack), \"k\": \(k)}\n".utf8)
            return PackWriter.Object(id: GitRepository.blobID(bytes), type: 3, bytes: bytes)
        }
    }

    /// Seals one pack of `batch` in the background, waits for it, and removes the packs its combining replaced
    /// (as a landing does). Returns how many it replaced.
    func seal(_ compressor: BackgroundCompressor, _ batch: [PackWriter.Object], folder: String, alone: Bool) throws -> Int {
        compressor.add(batch)
        compressor.seal(batch, folder: folder, alone: alone)
        let replaced = try compressor.takeSealed(wait: true)!.get().replaced
        for name in replaced {
            unlink(folder + "/" + name + ".idx")
            unlink(folder + "/" + name + ".pack")
        }
        return replaced.count
    }

    @Test func aLargeWritesPackStaysOutOfTheCombining() throws {
        let repository = Fixtures.temporaryDirectory() + "/repo.git"
        #expect(try git(["init", "-q", "--bare", repository], in: Fixtures.temporaryDirectory()).status == 0)
        let folder = repository + "/objects/pack"
        let compressor = BackgroundCompressor(activity: WriterActivity())
        var written = 0
        // Packs of large writes, as many as would be combined: none is.
        for pack in 0..<GitRepository.combineCount {
            #expect(try seal(compressor, objects(pack), folder: folder, alone: true) == 0)
            written += 3
        }
        // Packs of small writes among them: combined once there are enough of them, and only they.
        var replaced: [Int] = []
        for pack in 0..<(2 * GitRepository.combineCount) {
            replaced.append(try seal(compressor, objects(100 + pack), folder: folder, alone: pack % 2 == 1))
            written += 3
        }
        #expect(replaced.filter { $0 > 0 } == [GitRepository.combineCount], "\(replaced)")
        #expect(replaced.last == 0 && replaced[2 * GitRepository.combineCount - 2] == GitRepository.combineCount, "\(replaced)")
        let packs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".pack") }
        #expect(packs.count == 2 * GitRepository.combineCount + 1, "\(packs.count) packs")
        #expect(try git(["fsck", "--strict", "--full"], in: repository).status == 0)
        let listed = try git(["cat-file", "--batch-check", "--batch-all-objects"], in: repository).output
        #expect(listed.split(separator: "\n").count == written)
    }

    /// A pack of a few megabytes, sealed while "requests" come and go (its parts pausing for them: the pauses
    /// themselves are checked in PackWriterTests and below), is written whole, then the branches it was given
    /// are moved, main last.
    @Test func aPackSealedWhileRequestsComeAndGoIsWrittenThenItsBranchesMoved() throws {
        let dir = Fixtures.temporaryDirectory()
        let repository = dir + "/repo.git"
        #expect(try git(["init", "-q", "--bare", repository], in: dir).status == 0)
        // 3,000 spool-sized blobs, as one request each would add, and a commit for each of two branches.
        var objects: [PackWriter.Object] = []
        for k in 0..<3_000 {
            let bytes = Array("{\"serial\": \"S-\(k)\", \"notes\": \"\(String(repeating: "x", count: 800 + k % 200))\"}\n".utf8)
            objects.append(PackWriter.Object(id: GitRepository.blobID(bytes), type: 3, bytes: bytes))
        }
        let emptyTree: [UInt8] = []
        let treeID = ObjectID(bytes: PackWriter.sha1(Array("tree 0".utf8) + [0]))
        objects.append(PackWriter.Object(id: treeID, type: 2, bytes: emptyTree))
        func commit(_ message: String, parent: ObjectID?) -> PackWriter.Object {
            var text = "tree \(treeID.hex)\n"
            if let parent { text += "parent \(parent.hex)\n" }
            text += "author t <t> 1700000000 +0000\ncommitter t <t> 1700000000 +0000\n\n\(message)\n"
            let bytes = Array(text.utf8)
            return PackWriter.Object(id: ObjectID(bytes: PackWriter.sha1(Array("commit \(bytes.count)".utf8) + [0] + bytes)), type: 1, bytes: bytes)
        }
        // The branches as they were: their commits in a pack of their own, their files written.
        let before = [commit("device before", parent: nil), commit("main before", parent: nil)]
        try PackWriter.write(before, to: repository + "/objects/pack")
        try FileManager.default.createDirectory(atPath: repository + "/refs/heads/devices", withIntermediateDirectories: true)
        try (before[0].id.hex + "\n").write(toFile: repository + "/refs/heads/devices/a", atomically: true, encoding: .utf8)
        try (before[1].id.hex + "\n").write(toFile: repository + "/refs/heads/main", atomically: true, encoding: .utf8)
        let after = [commit("device after", parent: before[0].id), commit("main after", parent: before[1].id)]
        objects += after

        let activity = WriterActivity()
        let compressor = BackgroundCompressor(activity: activity)
        // A request is being served when the pack starts: its first part waits for the request to end.
        activity.begin()
        compressor.add(objects)
        compressor.seal(objects, folder: repository + "/objects/pack", repository: repository,
                        moves: [("refs/heads/devices/a", before[0].id, after[0].id), ("refs/heads/main", before[1].id, after[1].id)])
        var served = 1
        while compressor.takeSealed(wait: false) == nil, served < 100_000 {
            activity.end()
            activity.begin()
            served += 1
        }
        activity.end()
        let sealed = try #require(try compressor.takeSealed(wait: true)?.get())
        #expect(sealed.references == ["refs/heads/devices/a": after[0].id, "refs/heads/main": after[1].id])
        #expect(try String(contentsOfFile: repository + "/refs/heads/main", encoding: .utf8) == after[1].id.hex + "\n")
        #expect(try git(["rev-parse", "devices/a"], in: repository).output.hasPrefix(after[0].id.hex))
        let fsck = try git(["fsck", "--strict", "--full"], in: repository)
        #expect(fsck.status == 0, "\(fsck.output)")
        #expect(try git(["cat-file", "--batch-check", "--batch-all-objects"], in: repository).output.split(separator: "\n").count == objects.count + 2)
    }

    /// A branch the background cannot be sure of is left to the writer: another process moved or locked it,
    /// or its file is not a plain one. Nothing is written then, and another process's lock stays.
    @Test func aBranchNotAsExpectedIsLeftAlone() throws {
        let dir = Fixtures.temporaryDirectory()
        let repository = dir + "/repo.git"
        try FileManager.default.createDirectory(atPath: repository + "/refs/heads", withIntermediateDirectories: true)
        let a = ObjectID(bytes: [UInt8](repeating: 0xAA, count: 20)), b = ObjectID(bytes: [UInt8](repeating: 0xBB, count: 20))
        let c = ObjectID(bytes: [UInt8](repeating: 0xCC, count: 20))
        let main = repository + "/refs/heads/main"
        func content() -> String? { try? String(contentsOfFile: main, encoding: .utf8) }
        // Missing (perhaps in packed-refs), or new: not written.
        #expect(!GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: a))
        #expect(!GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: nil))
        #expect(content() == nil)
        // Moved by another process: not written.
        try (c.hex + "\n").write(toFile: main, atomically: true, encoding: .utf8)
        #expect(!GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: a))
        #expect(content() == c.hex + "\n")
        // Symbolic, or not a plain id: not written.
        try "ref: refs/heads/other\n".write(toFile: main, atomically: true, encoding: .utf8)
        #expect(!GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: a))
        // Locked by another process: not written, and its lock stays.
        try (a.hex + "\n").write(toFile: main, atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: main + ".lock", contents: Data()))
        #expect(!GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: a))
        #expect(FileManager.default.fileExists(atPath: main + ".lock") && content() == a.hex + "\n")
        // As expected and free: written, and no lock left.
        unlink(main + ".lock")
        #expect(GitRepository.updateLooseReference(in: repository, "refs/heads/main", to: b, expecting: a))
        #expect(content() == b.hex + "\n" && !FileManager.default.fileExists(atPath: main + ".lock"))
    }

    /// The background waits for requests to end, but never longer than asked, and not at all while the writer
    /// itself waits for it.
    @Test func theBackgroundWaitsForRequestsToEndWithinItsLimit() throws {
        let activity = WriterActivity()
        // Idle: no wait.
        var start = Date()
        activity.waitUntilIdle(atMost: 30)
        #expect(Date().timeIntervalSince(start) < 10)
        // Busy: returns once the request ends (long before the limit of 30 s).
        activity.begin()
        start = Date()
        // (The request ends on a thread of its own: a task would wait for a thread of the pool this test holds.)
        Thread {
            usleep(50_000)
            activity.end()
        }.start()
        activity.waitUntilIdle(atMost: 30)
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.04 && waited < 10, "\(waited) s")
        // Busy for good: returns after its limit.
        activity.begin()
        start = Date()
        activity.waitUntilIdle(atMost: 0.05)
        #expect(Date().timeIntervalSince(start) >= 0.04)
        // While the writer waits for the background: no wait at all.
        start = Date()
        activity.hurrying { activity.waitUntilIdle(atMost: 30) }
        #expect(Date().timeIntervalSince(start) < 10)
        activity.end()
    }
}

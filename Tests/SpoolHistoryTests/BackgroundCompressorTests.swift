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
        compressor.seal(folder: folder, alone: alone)
        let replaced = try compressor.takeSealed(wait: true)!.get()
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
        let compressor = BackgroundCompressor()
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
}

import Foundation
@testable import SpoolHistory
import SpoolTestSupport
import Testing

/// How the journaled writer's small packs are combined: a busy writer's (publishing in the background while
/// requests go on) only once `GitRepository.combineWhileBusy` of them have piled up, an idle writer's or a
/// checkpoint's from `GitRepository.combineCount`; either way the combined pack holds every object and stock git
/// reads it.
@Suite struct BackgroundCompressorTests {
    /// One small pack's worth of objects: `count` blobs unlike any other pack's.
    func objects(_ pack: Int, count: Int = 3) -> [PackWriter.Object] {
        (0..<count).map { k in
            let bytes = Array("{\"pack\": \(pack), \"k\": \(k)}\n".utf8)
            return PackWriter.Object(id: GitRepository.blobID(bytes), type: 3, bytes: bytes)
        }
    }

    func packFolder() throws -> (repository: String, folder: String) {
        let repository = Fixtures.temporaryDirectory() + "/repo.git"
        #expect(try git(["init", "-q", "--bare", repository], in: Fixtures.temporaryDirectory()).status == 0)
        return (repository, repository + "/objects/pack")
    }

    @Test func aBusyWritersPacksWaitForMoreBeforeTheyAreCombined() throws {
        let (repository, folder) = try packFolder()
        let compressor = BackgroundCompressor()
        var written: [PackWriter.Object] = []
        for pack in 0..<GitRepository.combineWhileBusy {
            let batch = objects(pack)
            written += batch
            compressor.add(batch)
            compressor.seal(folder: folder)
            let replaced = try compressor.takeSealed(wait: true)!.get()
            if pack + 1 < GitRepository.combineWhileBusy {
                #expect(replaced.isEmpty, "pack \(pack): combined after \(pack + 1) packs")
            } else {
                #expect(replaced.count == GitRepository.combineWhileBusy, "the last pack combined \(replaced.count)")
                for name in replaced {
                    unlink(folder + "/" + name + ".idx")
                    unlink(folder + "/" + name + ".pack")
                }
            }
        }
        // One pack holds them all, and git reads every object from it.
        let packs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".pack") }
        #expect(packs.count == 1, "\(packs)")
        #expect(try git(["fsck", "--strict", "--full"], in: repository).status == 0)
        let listed = try git(["cat-file", "--batch-check", "--batch-all-objects"], in: repository).output
        #expect(listed.split(separator: "\n").count == written.count)
    }

    @Test func anIdleWritersPacksAreCombinedFromTheUsualCount() throws {
        let (repository, folder) = try packFolder()
        let compressor = BackgroundCompressor()
        for pack in 0..<GitRepository.combineCount {
            let entries = try PackWriter.compress(objects(pack), durable: false)
            let name = try PackWriter.write(entries: entries, to: folder, durable: false)
            let replaced = compressor.keepRecentNow(name, entries, folder: folder)
            #expect(replaced.count == (pack + 1 < GitRepository.combineCount ? 0 : GitRepository.combineCount))
        }
        #expect(try git(["fsck", "--strict", "--full"], in: repository).status == 0)
    }
}

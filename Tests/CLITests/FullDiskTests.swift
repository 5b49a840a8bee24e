import Foundation
import SpoolTestSupport
import Testing

/// A first import or sync that fails on a full disk leaves the data folder as it found it: no half-made history
/// (`history.git.creating-…`) and no empty one (`verify` said "0 spools checked" of it). On a small tmpfs, which
/// needs root and `mount`: where neither is had, the test says so and skips.
@Suite(.serialized) struct FullDiskTests {
    /// A tmpfs of `kilobytes` at a new folder, with all but `free` kilobytes filled; `nil` when it cannot be mounted.
    static func fullDisk(kilobytes: Int, free: Int) throws -> String? {
        let mount = Fixtures.temporaryDirectory() + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        guard (try? Command.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", mount]))?.status == 0 else {
            print("FullDiskTests: skipped, a tmpfs cannot be mounted here (it needs root)")
            return nil
        }
        _ = try Command.run("/bin/dd", ["if=/dev/zero", "of=\(mount)/filler", "bs=1k", "count=\(kilobytes)"])
        // Room again for `free` kilobytes.
        let filled = (try FileManager.default.attributesOfItem(atPath: mount + "/filler")[.size] as? Int) ?? 0
        _ = try Command.run("/usr/bin/truncate", ["-s", "\(max(0, filled - free * 1024))", mount + "/filler"])
        return mount
    }

    static func unmount(_ mount: String) { _ = try? Command.run("/bin/umount", [mount]) }

    /// 3,000 spools, about 1.3 MB: more than the room left.
    static func inventory() throws -> String {
        let file = Fixtures.temporaryDirectory() + "/big.json"
        let spools = (0..<3_000).map { i in
            #"{"serial":"FD-\#(i)","brand":"Brand \#(i % 7)","color":"\#(String(repeating: "c", count: 300))","lastUpdated":\#(1_700_000_000_000 + i)}"#
        }
        try ("[" + spools.joined(separator: ",") + "]").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test(arguments: [0, 120])
    func aFailedFirstImportLeavesNoHistory(freeKilobytes: Int) throws {
        guard let mount = try Self.fullDisk(kilobytes: 2_048, free: freeKilobytes) else { return }
        defer { Self.unmount(mount) }
        let data = mount + "/data"
        let r = try CLI.run(["import", try Self.inventory(), "--data-dir", data])
        #expect(r.status != 0, "\(r.stderr)")
        #expect(r.stderr.contains("No space left on device"), "\(r.stderr)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []
        #expect(left.isEmpty, "left behind: \(left)")
        // With room, the same import works.
        try FileManager.default.removeItem(atPath: mount + "/filler")
        let again = try CLI.run(["import", try Self.inventory(), "--data-dir", data])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try CLI.run(["verify", "--data-dir", data]).stdout.contains("3000"))
    }
}

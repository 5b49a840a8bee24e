import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct PackWriterTests {
    /// Spools of every shape a delta must survive: similar ones, long lines, lines without an ending, values
    /// that share field names but nothing else, unicode, and empty notes.
    func inventory() -> [Spool] {
        var generator = InventoryGenerator(seed: 7)
        var out: [Spool] = []
        for _ in 0..<20 {
            for r in generator.inventory(maxCount: 30) where r["serial"]?.stringValue?.isEmpty == false {
                // Read back once: the canonical form of what a file would give.
                let raw = Spool(normalizedFields: r.merging(["lastUpdated": .int(1)]) { a, _ in a })
                if let spool = Spool(canonicalJSON: raw.canonicalJSON) { out.append(spool) }
            }
        }
        for i in 0..<150 {
            out.append(spool("SIMILAR-\(i)", at: Int64(i), ["brand": .string("Prusament"), "weightRemaining": .int(Int64(i)),
                                                         "notes": .string(String(repeating: "long note \(i % 7) ", count: i % 3 == 0 ? 400 : 2))]))
        }
        return out
    }

    @Test func everyObjectReadsBackThroughStockGit() async throws {
        let (store, path) = try newStore()
        let spools = inventory()
        var seen = Set<ExactString>()
        let unique = spools.filter { seen.insert(ExactString($0.serial)).inserted }
        _ = try await store.importSpools(unique, mode: .replace(device: "d"), source: "all")
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
        // Deltas were written, each against an object stored whole.
        let packs = try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack").filter { $0.hasSuffix(".idx") }
        #expect(packs.count == 1)
        let stats = try git(["verify-pack", "-s", "objects/pack/" + packs[0]], in: path).output
        #expect(stats.contains("chain length = 1:") && !stats.contains("chain length = 2"), "\(stats)")
        // Each spool's file, as stock git reads it, is its canonical form.
        for s in unique.prefix(200) {
            let shown = try git(["cat-file", "blob", "main:" + SpoolPaths.path(for: s.serial)], in: path)
            #expect(shown.status == 0 && shown.output == String(decoding: s.canonicalJSON, as: UTF8.self), "\(s.serial)")
        }
        let problems = try await store.verify().problems
        #expect(problems.isEmpty, "\(problems.prefix(3))")
    }

    /// The packs' own compressor (fixed Huffman codes, greedy matches) read back by stock git: empty and tiny
    /// objects, random bytes, long runs (matches of the longest length), repeats at every distance up to the
    /// largest object it takes, and objects past that size (zlib's).
    @Test func smallObjectsCompressedByHandReadBackThroughStockGit() throws {
        let path = Fixtures.temporaryDirectory() + "/repo.git"
        #expect(try git(["init", "-q", "--bare", path], in: Fixtures.temporaryDirectory()).status == 0)
        var rng = SeededGenerator(seed: 3)
        var contents: [[UInt8]] = [[], [0], Array("a".utf8), Array("aaa".utf8), Array("abcabcabcabc".utf8)]
        for size in [2, 3, 4, 17, 100, 258, 259, 300, 1000, 4095, 4096, 4097, 9000] {
            contents.append((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            contents.append(Array(repeating: UInt8(ascii: "x"), count: size))
            contents.append((0..<size).map { _ in UInt8(ascii: "a") + UInt8.random(in: 0...2, using: &rng) })
        }
        for distance in [1, 2, 7, 255, 256, 1000, 2049, 3000, 4000] {
            let phrase = (0..<distance).map { _ in UInt8.random(in: 32...126, using: &rng) }
            contents.append(Array((phrase + phrase + phrase.prefix(40)).prefix(4096)))
        }
        var seen = Set<ObjectID>()
        let ids = contents.map(GitRepository.blobID)
        var objects: [PackWriter.Object] = []
        for (id, bytes) in zip(ids, contents) where seen.insert(id).inserted { objects.append(PackWriter.Object(id: id, type: 3, bytes: bytes)) }
        try PackWriter.write(objects, to: path + "/objects/pack")
        // fsck inflates every object of the pack and checks that it hashes to its id: byte for byte, binary too.
        let fsck = try git(["fsck", "--strict", "--full"], in: path)
        #expect(fsck.status == 0, "\(fsck.output)")
        let listed = try git(["cat-file", "--batch-check=%(objectname) %(objectsize)", "--batch-all-objects"], in: path).output
        #expect(listed.split(separator: "\n").count == objects.count)
        for object in objects { #expect(listed.contains("\(object.id.hex) \(object.bytes.count)")) }
        let text = objects.first { $0.bytes.count == 4096 && $0.bytes.allSatisfy { $0 >= 32 && $0 < 127 } }!
        #expect(try git(["cat-file", "blob", text.id.hex], in: path).output == String(decoding: text.bytes, as: UTF8.self))
    }

    /// A journaled writer's packs hold trees as stored deflate blocks (uncompressed): read back by stock git, from
    /// the empty tree to one of three blocks (a block holds at most 65,535 bytes), each its own size plus the
    /// stream's 6 bytes and 5 a block.
    @Test func journaledPacksStoreTreesUncompressedAndGitReadsThem() throws {
        let path = Fixtures.temporaryDirectory() + "/repo.git"
        #expect(try git(["init", "-q", "--bare", path], in: Fixtures.temporaryDirectory()).status == 0)
        let blob = Array("{}\n".utf8)
        let blobID = GitRepository.blobID(blob)
        var objects = [PackWriter.Object(id: blobID, type: 3, bytes: blob)]
        for count in [0, 1, 2339, 2340, 5000] {
            // "100644 f0000000\0" and the id: 36 bytes an entry; 2,339 of them fill one block but for 31 bytes.
            var tree: [UInt8] = []
            for k in 0..<count {
                tree += Array("100644 f\(String(format: "%07d", k))".utf8) + [0]
                blobID.append(to: &tree)
            }
            let id = ObjectID(bytes: PackWriter.sha1(Array("tree \(tree.count)".utf8) + [0] + tree))
            objects.append(PackWriter.Object(id: id, type: 2, bytes: tree))
        }
        let entries = try PackWriter.compress(objects, durable: false)
        for (object, entry) in zip(objects, entries) where object.type == 2 {
            let blocks = max(1, (object.bytes.count + 65_534) / 65_535)
            #expect(entry.payload.count == object.bytes.count + 6 + 5 * blocks, "a tree of \(object.bytes.count) bytes")
        }
        let name = try PackWriter.write(entries: entries, to: path + "/objects/pack")
        let fsck = try git(["fsck", "--strict", "--full"], in: path)
        #expect(fsck.status == 0, "\(fsck.output)")
        // The index's CRCs (worked out when each entry was made, not over the written pack) check out.
        let verify = try git(["verify-pack", path + "/objects/pack/" + name + ".idx"], in: path)
        #expect(verify.status == 0, "\(verify.output)")
        let listed = try git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", "--batch-all-objects"], in: path).output
        for object in objects where object.type == 2 { #expect(listed.contains("\(object.id.hex) tree \(object.bytes.count)")) }
        #expect(try git(["ls-tree", objects.last!.id.hex], in: path).output.split(separator: "\n").count == 5000)
    }

    /// A pack larger than a part is written in parts, pausing between them, and reads back whole.
    @Test func aLargePackIsWrittenInPartsAndReadsBack() throws {
        let path = Fixtures.temporaryDirectory() + "/repo.git"
        #expect(try git(["init", "-q", "--bare", path], in: Fixtures.temporaryDirectory()).status == 0)
        var objects: [PackWriter.Object] = []
        for k in 0..<2_000 {
            let bytes = Array("{\"k\": \(k), \"pad\": \"\((0..<40).map { String(($0 * 7919 + k * 104_729) % 1_000_003) }.joined(separator: " "))\"}\n".utf8)
            objects.append(PackWriter.Object(id: GitRepository.blobID(bytes), type: 3, bytes: bytes))
        }
        let entries = try PackWriter.compress(objects, durable: false, parallel: false)
        let bytes = entries.reduce(0) { $0 + $1.payload.count }
        #expect(bytes > 2 * PackWriter.partBytes, "\(bytes) bytes")
        var pauses = 0
        let name = try PackWriter.write(entries: entries, to: path + "/objects/pack", durable: false, pause: { pauses += 1 })
        #expect(pauses >= bytes / PackWriter.partBytes, "\(pauses) pauses for \(bytes) bytes")
        let verify = try git(["verify-pack", "-v", path + "/objects/pack/" + name + ".idx"], in: path)
        #expect(verify.status == 0, "\(verify.output)")
        #expect(try git(["fsck", "--strict", "--full"], in: path).status == 0)
        let listed = try git(["cat-file", "--batch-check", "--batch-all-objects"], in: path).output
        #expect(listed.split(separator: "\n").count == objects.count)
        #expect(try git(["cat-file", "blob", objects[1_234].id.hex], in: path).output == String(decoding: objects[1_234].bytes, as: UTF8.self))
    }

    @Test func deltasRebuildTheirTargets() {
        let cases: [([UInt8], [UInt8])] = [
            (Array("a\nb\nc\n".utf8), Array("a\nb\nc\n".utf8)),
            (Array("{\n  \"x\": 1,\n  \"y\": 2\n}\n".utf8), Array("{\n  \"x\": 100,\n  \"z\": 2\n}".utf8)),
            ([], Array("new\n".utf8)),
            (Array("old\n".utf8), []),
            (Array(repeating: 0x41, count: 300) + [0x0A], Array(repeating: 0x41, count: 299) + [0x42, 0x0A] + Array(repeating: 0x43, count: 1000)),
            (Array("  \"notes\": \"abc\",\n".utf8), Array("  \"notes\": \"abXc\",\n  \"notes\": \"abc\",\n".utf8)),
        ]
        for (source, target) in cases {
            #expect(apply(LineDelta.encode(from: source, to: target), to: source) == target)
        }
    }

    /// git's delta format, applied: what git does when it reads a delta.
    func apply(_ delta: [UInt8], to source: [UInt8]) -> [UInt8]? {
        var i = 0
        func varint() -> Int {
            var v = 0, shift = 0
            while true {
                let b = delta[i]; i += 1
                v |= Int(b & 0x7F) << shift
                shift += 7
                if b & 0x80 == 0 { return v }
            }
        }
        guard varint() == source.count else { return nil }
        let size = varint()
        var out: [UInt8] = []
        while i < delta.count {
            let op = delta[i]; i += 1
            if op & 0x80 != 0 {
                var offset = 0, count = 0
                for k in 0..<4 where op & (1 << k) != 0 { offset |= Int(delta[i]) << (8 * k); i += 1 }
                for k in 0..<3 where op & (1 << (4 + k)) != 0 { count |= Int(delta[i]) << (8 * k); i += 1 }
                if count == 0 { count = 0x10000 }
                guard offset + count <= source.count else { return nil }
                out += source[offset..<(offset + count)]
            } else if op > 0 {
                out += delta[i..<(i + Int(op))]
                i += Int(op)
            } else {
                return nil
            }
        }
        return out.count == size ? out : nil
    }
}

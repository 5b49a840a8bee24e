import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct SpoolPathsTests {
    static let hostile = [
        "", "../x", "a/b", "..", ".", "/etc/passwd", "C:\\x", String(repeating: "long-", count: 60), String(repeating: "🧵", count: 300),
        "🧵", "PRU-PLA-GB-2024-0412", "pru-pla-gb-2024-0412", "Pru-Pla", "a%2f", "+a", "%", "+", "caf\u{E9}", "cafe\u{301}",
        "\u{0}", "tab\there", "new\nline", " space ", "ß", "ẞ", "~1", "x.json", "spools", "A", "a",
    ]

    @Test(arguments: hostile)
    func everySerialMapsToASafePathAndBack(_ serial: String) {
        let path = SpoolPaths.path(for: serial)
        #expect(SpoolPaths.serial(atPath: path).map { Array($0.utf8) } == Array(serial.utf8))
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        #expect(components.first == "spools" && components.count >= 5)
        for c in components {
            #expect(!c.isEmpty && c != "." && c != ".." && c.utf8.count <= 255, "\(path)")
            #expect(!c.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: ":") || ($0 >= 0x41 && $0 <= 0x5A) }, "\(path)")
        }
    }

    @Test func distinctSerialsGetPathsDistinctEvenWithoutCase() {
        var gen = InventoryGenerator(seed: 11)
        var serials = Set(Self.hostile.map(ExactString.init))
        for _ in 0..<5000 { serials.insert(ExactString(gen.string(maxFragments: 8))) }
        let paths = serials.map { SpoolPaths.path(for: $0.string).lowercased() }
        #expect(Set(paths).count == serials.count)
    }

    @Test func commonSerialsStayReadable() {
        #expect(SpoolPaths.encode("pru-pla-2024") == "pru-pla-2024")
        #expect(SpoolPaths.encode("PRU-9931") == "+p+r+u-9931")
        #expect(SpoolPaths.encode("a/b") == "a%2fb")
        #expect(SpoolPaths.encode("") == "%")
    }

    @Test(arguments: ["", "x.txt", "spools/a/b/c/x.json", "other/0/0/0/abc.json", "spools/0/0/0/A.json", "spools/0/0/0/%41.json", "spools/0/0/0/+.json"])
    func pathsNotWrittenByUsAreNotSpools(_ path: String) {
        #expect(SpoolPaths.serial(atPath: path) == nil)
    }

    @Test func shardsSpreadSerialsOverFolders() {
        var folders: [String: Int] = [:]
        for i in 0..<20_000 {
            let p = SpoolPaths.path(for: "SPOOL-\(i)").split(separator: "/")
            folders[p[1...3].joined(separator: "/"), default: 0] += 1
        }
        #expect(folders.count > 3_500)
        #expect(folders.values.max()! < 30)
    }

    /// The walk's reading of a path (shard folders, long-name folders, file name) agrees with serial(atPath:).
    @Test func theWalksReadingAgrees() {
        let serials = ["", "a", "A/b", String(repeating: "long-", count: 60), String(repeating: "%", count: 90), "🧵", "e\u{301}", String(repeating: "Z", count: 250)]
        for serial in serials {
            let parts = SpoolPaths.path(for: serial).split(separator: "/")
            let read = SpoolPaths.serial(shard: (parts[1], parts[2], parts[3]), folders: Array(parts[4..<(parts.count - 1)]), name: parts[parts.count - 1])
            #expect(read.map { Array($0.utf8) } == Array(serial.utf8), "\(serial)")
            // In another shard, or cut elsewhere, it is no serial.
            #expect(SpoolPaths.serial(shard: (parts[2], parts[1], "x"), folders: Array(parts[4..<(parts.count - 1)]), name: parts[parts.count - 1]) == nil || parts[1] == parts[2])
            if parts.count > 5 {
                #expect(SpoolPaths.serial(shard: (parts[1], parts[2], parts[3]), folders: [], name: parts[parts.count - 1]) == nil)
            }
        }
    }
}

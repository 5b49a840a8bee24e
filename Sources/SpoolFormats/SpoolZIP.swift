import Foundation
import SpoolModel
import ZIPFoundation

/// The web app's backup: a ZIP of one JSON file per spool, named `{type}-{brand}-{color}-{serial}.json`
/// with everything but ASCII letters and digits stripped from each part.
///
/// Written names are made collision-free (`-2`, `-3`… before `.json`, compared without case) because two
/// serials can strip to the same name. Each file is the spool's canonical JSON. Reading refuses entries
/// whose path could leave the folder they are extracted to (`..`, absolute paths, links) and stops at a size
/// limit per entry and in all, counted on the bytes actually inflated, not on what the header claims.
public enum SpoolZIP {
    /// No spool file comes near this; a larger entry is refused.
    public static let maxEntryBytes = 16 << 20
    /// The most inflated bytes read from one archive.
    public static let maxTotalBytes = 1 << 30

    /// The longest entry name before its `-N.json` (ASCII, so bytes): names stay valid file names when the
    /// archive is unpacked, whatever the length of a spool's type, brand or colour.
    static let maxStemLength = 200

    static func isZIP(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06])
    }

    static func stripped(_ s: String?) -> String {
        String((s ?? "").unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.map(Character.init))
    }

    /// The entry names for `spools`, in order, distinct even on a case-insensitive file system.
    public static func entryNames(_ spools: [Spool]) -> [String] {
        var taken = Set<String>()
        return spools.map { entryName(for: $0, taken: &taken) }
    }

    static func entryName(for spool: Spool, taken: inout Set<String>) -> String {
        let parts = ["type", "brand", "color"].map { stripped(spool[$0]?.stringValue) } + [stripped(spool.serial)]
        // Cut to a length every file system takes as a file name (255 bytes), with room for `-N.json`.
        let stem = parts.allSatisfy(\.isEmpty) ? "spool" : String(parts.joined(separator: "-").prefix(maxStemLength))
        var name = stem + ".json"
        var n = 2
        while !taken.insert(name.lowercased()).inserted {
            name = "\(stem)-\(n).json"
            n += 1
        }
        return name
    }

    static func write(_ spools: [StoredSpool], to sink: ByteSink) throws(ConversionError) {
        do {
            let archive = try Archive(data: Data(), accessMode: .create)
            var taken = Set<String>()
            for stored in spools {
                let spool = stored.spool()
                let name = entryName(for: spool, taken: &taken)
                let content = Data(spool.canonicalJSON)
                // The spool's own time, so the same inventory always gives the same archive.
                let date = Date(timeIntervalSince1970: Double(max(spool.lastUpdated ?? 0, 315_532_800_000)) / 1000)
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(content.count), modificationDate: date,
                                     compressionMethod: .deflate) { position, size in
                    content.subdata(in: Int(position)..<Int(position) + size)
                }
            }
            try sink.append([UInt8](archive.data ?? Data()))
        } catch let e as ConversionError {
            throw e
        } catch {
            throw .io(path: "(zip)", reason: "cannot build the ZIP archive: \(error)")
        }
    }

    struct TooLarge: Error {}

    static func isSafe(_ path: String) -> Bool {
        if path.isEmpty || path.hasPrefix("/") || path.hasPrefix("\\") { return false }
        if path.count >= 2, path.dropFirst().first == ":" { return false }
        let parts = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        return !parts.contains("..")
    }

    static func read(_ bytes: [UInt8], file: String) throws(ConversionError) -> InventoryInput {
        let archive: Archive
        do {
            archive = try Archive(data: Data(bytes), accessMode: .read)
        } catch {
            throw .notAnInventory(file: file, reason: "not a readable ZIP archive: \(error)")
        }
        let entries = archive.sorted { $0.path < $1.path }
        return InventoryInput { input, body throws(ConversionError) in
            try readEntries(archive, entries, file: file, input: input, body)
        }
    }

    static func readEntries(_ archive: Archive, _ entries: [Entry], file: String, input: InventoryInput, _ body: (RawRecord) -> Void) throws(ConversionError) {
        var rows = 0
        var skipped: [String] = []
        var total = 0
        for entry in entries {
            let path = entry.path
            guard isSafe(path) else {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": refused, its path leaves the archive's folder (absolute or with '..')")
            }
            switch entry.type {
            case .directory: continue
            case .symlink:
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": refused, a symbolic link")
            case .file: break
            }
            guard path.lowercased().hasSuffix(".json") else {
                skipped.append(path)
                continue
            }
            if entry.uncompressedSize > UInt64(maxEntryBytes) {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": \(entry.uncompressedSize) bytes uncompressed, over the limit of \(maxEntryBytes) for one spool file (refused as a possible zip bomb)")
            }
            var content = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    content.append(chunk)
                    total += chunk.count
                    if content.count > maxEntryBytes || total > maxTotalBytes { throw TooLarge() }
                }
            } catch is TooLarge {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": inflates past the limit of \(content.count > maxEntryBytes ? maxEntryBytes : maxTotalBytes) bytes (refused as a possible zip bomb)")
            } catch {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": cannot be extracted: \(error)")
            }
            rows += 1
            do {
                body(RawRecord(object: try JSONParser.parse([UInt8](content)), row: rows, entry: path))
            } catch {
                body(RawRecord(object: .null, row: rows, entry: path, problem: FieldProblem(
                    field: "(file)", message: "not valid JSON: line \(error.line), column \(error.column): \(error.message)")))
            }
        }
        var notes = ["ZIP of \(rows) spool file\(rows == 1 ? "" : "s")"]
        if !skipped.isEmpty {
            notes.append("skipped \(skipped.count) \(skipped.count == 1 ? "entry that is" : "entries that are") not .json: \(skipped.prefix(5).joined(separator: ", "))\(skipped.count > 5 ? ", …" : "")")
        }
        input.notes = notes
    }
}

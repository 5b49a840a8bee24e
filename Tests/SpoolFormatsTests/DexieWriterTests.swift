import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

/// What a Dexie file we write must be for the web app's `importInto` (shared/SPOOL-SCHEMA.md).
@Suite struct DexieWriterTests {
    func written(_ relative: String) throws -> (doc: [String: JSONValue], rows: [JSONValue], ids: [IDAssignment]) {
        let (spools, _) = try load(relative)
        let (bytes, ids) = try Conversion.encode(spools, as: .dexie)
        let doc = try #require(try JSONParser.parse(bytes).objectValue)
        let data = try #require(doc["data"]?.objectValue)
        let table = try #require(data["data"]?.arrayValue?.first?.objectValue)
        return (doc, try #require(table["rows"]?.arrayValue), ids)
    }

    @Test func headerIsTheWebAppsSchema3() throws {
        let (doc, rows, _) = try written("dexie/webapp-v2-duplicates-2024.dexie.json")
        #expect(doc["formatName"] == .string("dexie"))
        #expect(doc["formatVersion"] == .int(1))
        let data = try #require(doc["data"]?.objectValue)
        #expect(data["databaseVersion"] == .int(3))
        #expect(data["tables"] == .array([.object(["name": .string("spools"), "schema": .string("++id,serial,brand,type,color,lastScanned,lastUpdated"), "rowCount": .int(Int64(rows.count))])]))
        let tables = try #require(data["data"]?.arrayValue)
        #expect(tables.count == 1)
        #expect(tables[0].objectValue?["tableName"] == .string("spools"))
        #expect(tables[0].objectValue?["inbound"] == .bool(true))
    }

    @Test func headerComesBeforeData() throws {
        let (spools, _) = try load("dexie/webapp-v1-2022.dexie.json")
        let text = String(decoding: try Conversion.encode(spools, as: .dexie).bytes, as: UTF8.self)
        let tables = try #require(text.range(of: "\"tables\""))
        let rows = try #require(text.range(of: "\"rows\""))
        #expect(tables.lowerBound < rows.lowerBound)
        #expect(text.hasPrefix("{\"formatName\":\"dexie\",\"formatVersion\":1,\"data\":{\"databaseName\":"))
    }

    @Test func rowsHaveUniqueIDsInKeyOrderTimestampsAsNumbersAndNoArrayTags() throws {
        let (_, rows, ids) = try written("dexie/webapp-v2-duplicates-2024.dexie.json")
        let keys = rows.compactMap { $0.objectValue?["id"]?.numberValue }
        #expect(keys.count == rows.count)
        #expect(keys == keys.sorted() && Set(keys).count == keys.count)
        #expect(ids.isEmpty)
        for row in rows {
            let o = try #require(row.objectValue)
            guard case .int? = o["lastUpdated"] else { Issue.record("lastUpdated is not a plain number in \(row.jsonText)"); continue }
            #expect(o["$types"] == nil)
        }
    }

    @Test func spoolsWithoutOrWithSharedIDsGetNewOnes() throws {
        let spools = [
            Spool(normalizedFields: ["serial": .string("A"), "id": .int(7), "lastUpdated": .int(1)]),
            Spool(normalizedFields: ["serial": .string("B"), "lastUpdated": .int(1)]),
            Spool(normalizedFields: ["serial": .string("C"), "id": .int(7), "lastUpdated": .int(1)]),
        ]
        let (bytes, ids) = try Conversion.encode(spools, as: .dexie)
        #expect(ids == [IDAssignment(serial: "B", oldID: nil, newID: 8), IDAssignment(serial: "C", oldID: 7, newID: 9)])
        let reread = try Conversion.load(bytes, path: "x.json", options: ConversionOptions(now: 0)).spools
        #expect(reread.map(\.id) == [7, 8, 9])
    }

    @Test func javascriptOnlyValuesKeepTheirTypes() throws {
        let (_, rows, _) = try written("dexie/every-typeson-type.dexie.json")
        let first = try #require(rows.first?.objectValue)
        let types = try #require(first["$types"]?.objectValue)
        #expect(types["purchasedAt"] == .string("date"))
        #expect(types["byMonth"] == .string("map"))
        #expect(types["a~1b.c~0d"] == .string("date"))
        #expect(types["chain"] == .array([.string("arraybuffer"), .string("uint8array")]))
        #expect(types["createdAt"] == nil, "known timestamps must be plain numbers")
        #expect(first["createdAt"] == .int(1_700_000_000_000))
    }
}

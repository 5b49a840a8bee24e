import SpoolModel
import Testing

@Suite struct TypesonTests {
    func decode(_ json: String) throws(TypesonError) -> JSONValue {
        var o = (try? JSONParser.parse(json))?.objectValue ?? [:]
        let types = o.removeValue(forKey: "$types") ?? .object([:])
        return try Typeson.decode(.object(o), types: types)
    }

    @Test func keyPathsEscapeTildeAndDot() {
        #expect(Typeson.parseKeyPath("a~1b.c~0d.0") == ["a.b", "c~d", "0"])
        #expect(Typeson.parseKeyPath("") == [])
        #expect(Typeson.formatKeyPath(["a.b", "c~d", "~1"]) == "a~1b.c~0d.~01")
        for path in [["x"], ["a.b", "~", "."], ["", "~0~1"]] {
            #expect(Typeson.parseKeyPath(Typeson.formatKeyPath(path)) == path)
        }
    }

    @Test func revivesEveryScalarType() throws {
        let v = try decode(#"{"d":1700000000000,"bad":"NaN","u":0,"uo":null,"n":"NaN","i":"Infinity","m":"-Infinity","b":"12345678901234567890","$types":{"d":"date","bad":"date","u":"undef","uo":"undef","n":"nan","i":"infinity","m":"negativeInfinity","b":"bigint"}}"#)
        #expect(v == .object([
            "d": .typed("date", .int(1_700_000_000_000)), "bad": .typed("date", .string("NaN")),
            "u": .typed("undef", .int(0)), "uo": .typed("undef", .int(0)),
            "n": .typed("nan", .string("NaN")), "i": .typed("infinity", .string("Infinity")),
            "m": .typed("negativeInfinity", .string("-Infinity")), "b": .typed("bigint", .string("12345678901234567890")),
        ]))
    }

    @Test func userObjectAndArrayTagsAreNoOps() throws {
        let v = try decode(#"{"tags":["a"],"$types":{"":"userObject","tags":"arrayNonindexKeys"}}"#)
        #expect(v == .object(["tags": .array([.string("a")])]))
    }

    @Test func nestedPathsReviveBeforeTheirParents() throws {
        let v = try decode(#"{"m":[["k",{"at":5}]],"buf":{"buffer":"AQID","byteOffset":0,"length":3},"$types":{"m":"map","m.0.1.at":"date","buf":"uint8array2","buf.buffer":"arraybuffer"}}"#)
        #expect(v == .object([
            "m": .typed("map", .array([.array([.string("k"), .object(["at": .typed("date", .int(5))])])])),
            "buf": .typed("uint8array2", .object(["buffer": .typed("arraybuffer", .string("AQID")), "byteOffset": .int(0), "length": .int(3)])),
        ]))
    }

    @Test func aListOfNamesAppliesInOrder() throws {
        let v = try decode(#"{"x":"AAEC","$types":{"x":["arraybuffer","uint8array"]}}"#)
        #expect(v == .object(["x": .typed("uint8array", .typed("arraybuffer", .string("AAEC")))]))
        // And encodes back to the same list.
        #expect(Typeson.typeEntries(of: v).map(\.names) == [["arraybuffer", "uint8array"]])
    }

    @Test func repeatedReferencesBecomeCopiesWithTheirTypes() throws {
        let v = try decode(##"{"loc":{"since":1},"again":"#loc","$types":{"loc.since":"date","again":"#"}}"##)
        let loc = JSONValue.object(["since": .typed("date", .int(1))])
        #expect(v == .object(["loc": loc, "again": loc]))
    }

    @Test func circularReferencesAreRefused() {
        #expect(throws: TypesonError.self) { try decode(##"{"a":{"self":"#a"},"$types":{"a.self":"#"}}"##) }
    }

    @Test func blobsRegexpsSetsAndEscapedPaths() throws {
        let v = try decode(#"{"p":{"type":"image/png","data":"iVBORw0KGgo="},"r":{"source":"^a$","flags":"g"},"s":[1,2],"a.b":{"c~d":3},"$types":{"p":"blob2","r":"regexp","s":"set","a~1b.c~0d":"date"}}"#)
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o["p"] == .typed("blob2", .object(["type": .string("image/png"), "data": .string("iVBORw0KGgo=")])))
        #expect(o["r"] == .typed("regexp", .object(["source": .string("^a$"), "flags": .string("g")])))
        #expect(o["s"] == .typed("set", .array([.int(1), .int(2)])))
        #expect(o["a.b"] == .object(["c~d": .typed("date", .int(3))]))
    }

    @Test func unknownTypeNamesTheTypeAndThePath() {
        do {
            _ = try decode(#"{"k":{},"$types":{"k":"cryptokey"}}"#)
            Issue.record("accepted an unknown type")
        } catch {
            #expect(error.keyPath == "k")
            #expect(error.message.contains("unknown typeson type 'cryptokey'"))
        }
    }

    @Test func aPathThatDoesNotExistIsAnError() {
        do {
            _ = try decode(#"{"lastScanned":1,"$types":{"lastScaned":"date"}}"#)
            Issue.record("accepted a missing path")
        } catch {
            #expect(error.keyPath == "lastScaned")
            #expect(error.message.contains("does not exist"))
        }
    }

    @Test(arguments: [
        (#"{"d":"yesterday","$types":{"d":"date"}}"#, "epoch milliseconds"),
        (#"{"b":"12a","$types":{"b":"bigint"}}"#, "decimal integer"),
        (#"{"a":"not base64!","$types":{"a":"arraybuffer"}}"#, "base64"),
        (#"{"m":[1,2],"$types":{"m":"map"}}"#, "[key, value] pairs"),
        (#"{"r":{"source":"x"},"$types":{"r":"regexp"}}"#, "{source, flags}"),
    ])
    func malformedEncapsulationsAreErrors(_ json: String, _ expected: String) {
        do {
            _ = try decode(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.contains(expected), "\(error)")
        }
    }

    @Test func documentsReviveTheirOwnTypesMember() throws {
        let doc = try #require(try JSONParser.parse(#"{"serial":"S","d":5,"$types":{"d":"date"}}"#).objectValue)
        #expect(try Typeson.decodeDocument(doc) == ["serial": .string("S"), "d": .typed("date", .int(5))])
        #expect(try Typeson.decodeDocument(["a": .int(1)]) == ["a": .int(1)])
        // A root type that makes the document a typed array, not an object.
        let rootless = try #require(try JSONParser.parse(#"{"buffer":"AQID","byteOffset":0,"length":3,"$types":{"":"uint8array2"}}"#).objectValue)
        do {
            _ = try Typeson.decodeDocument(rootless)
            Issue.record("accepted a document that is not an object")
        } catch {
            #expect(error.message.contains("not an object"))
        }
        // And a spool comes back from its canonical bytes, typed values included.
        let spool = Spool(normalizedFields: ["serial": .string("S"), "bought": .typed("date", .int(5)), "lastUpdated": .int(1)])
        #expect(Spool(canonicalJSON: spool.canonicalJSON)?.fields == spool.fields)
        #expect(Spool(canonicalJSON: Array("[1]".utf8)) == nil)
    }

    @Test func encodingIsTheInverseOfDecoding() throws {
        let json = #"{"m":[["k",{"at":5}]],"x":"AAEC","o":{"a.b":[{"t":1}]},"$types":{"m":"map","m.0.1.at":"date","x":["arraybuffer","uint8array"],"o.a~1b.0.t":"date"}}"#
        let v = try decode(json)
        let types = try #require(Typeson.typesObject(of: v))
        #expect(try Typeson.decode(v.stripped, types: types) == v)
    }
}

extension JSONValue {
    /// The value with every typed node replaced by its encapsulation (what the JSON writers emit).
    var stripped: JSONValue { (try? JSONParser.parse(jsonBytes)) ?? .null }
}

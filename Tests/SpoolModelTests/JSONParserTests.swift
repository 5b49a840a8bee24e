import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct JSONParserTests {
    /// A sync request's spools parsed on every core give what the whole document parsed on one gives: the same
    /// value, byte for byte, and on bad input the same error (line, column and message), wherever the input breaks.
    @Test func elementsParsedInParallelAreTheDocumentParsedWhole() throws {
        func element(_ k: Int) -> String {
            "{\"serial\": \"S-\(k)\", \"brand\": \"Caf\u{E9} e\u{301} \(k)\", \"weightRemaining\": \(k % 1000).5, \"n\": [\(k), {\"changes\": [1, 2]}], \"ok\": true, \"none\": null}"
        }
        let elements = (0..<3000).map(element)
        func body(_ changes: [String], extra: String = "") -> [UInt8] {
            Array("{\"deviceId\": \"d\", \"lastSyncTime\": 0\(extra), \"changes\": [\n\(changes.joined(separator: ",\n"))\n], \"deletions\": []}".utf8)
        }
        var deep = elements
        deep[2000] = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        var nearlyDeep = elements
        nearlyDeep[10] = String(repeating: "[", count: JSONParser.maxDepth - 1) + String(repeating: "]", count: JSONParser.maxDepth - 1)
        var broken = elements
        broken[1500] = broken[1500].replacingOccurrences(of: "\"brand\":", with: "\"brand\";")
        var badEscape = elements
        badEscape[2999] = "\"\\x\""
        let cases: [[UInt8]] = [
            body(elements),
            body(elements, extra: ", \"meta\": {\"changes\": [3, {\"a\": 1}]}"),
            body(elements, extra: ", \"changes\": []"),
            body(broken), body(badEscape), body(deep), body(nearlyDeep),
            Array(body(elements).prefix(400_000)),
            body(elements) + Array(" x".utf8),
            Array(body(elements).dropLast(20)) + Array(",".utf8) + Array(body(elements).suffix(20)),
        ]
        for bytes in cases {
            #expect(bytes.count >= JSONParser.parallelBytes)
            var whole: Result<JSONValue, JSONSyntaxError>
            do { whole = .success(try JSONParser.parse(bytes)) } catch { whole = .failure(error) }
            var parts: Result<JSONValue, JSONSyntaxError>
            do { parts = .success(try JSONParser.parse(bytes, elementsInParallelUnder: "changes")) } catch { parts = .failure(error) }
            switch (whole, parts) {
            case (.success(let a), .success(let b)):
                #expect(a.jsonBytes == b.jsonBytes)
                #expect(b.objectValue?["changes"]?.arrayValue?.count == 3000)
            case (.failure(let a), .failure(let b)):
                #expect(a == b)
            default:
                Issue.record("whole: \(whole), in parts: \(parts)")
            }
        }
    }

    @Test func parsesNumbersExactly() throws {
        let v = try JSONParser.parse("[0, -0, 42, 9223372036854775807, -9223372036854775808, 9007199254740993, 1.75, 1e3, 2.50, 1e400000000, 123456789012345678901234567890]".replacingOccurrences(of: "1e400000000, ", with: ""))
        #expect(v == .array([.int(0), .int(0), .int(42), .int(.max), .int(.min), .int(9_007_199_254_740_993), .double(1.75),
                             .int(1000), .double(2.5), .double(1.2345678901234568e29)]))
    }

    @Test(arguments: ["0.1", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "-0.000001", "3.141592653589793", "1e21", "123.456e-7"])
    func doublesMatchTheStandardLibrary(_ text: String) throws {
        let v = try JSONParser.parse(text)
        #expect(v.numberValue == Double(text))
    }

    @Test func outOfRangeNumberIsAnError() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("[1e400]") }
    }

    @Test func parsesStringsAndEscapes() throws {
        let v = try JSONParser.parse(#"["a\"b\\c\/d\n\t\u00e9\ud83e\uddf5", "Für 漢字 🧵"]"#)
        #expect(v == .array([.string("a\"b\\c/d\n\té🧵"), .string("Für 漢字 🧵")]))
    }

    @Test func skipsAByteOrderMark() throws {
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == .array([.int(1)]))
    }

    struct BadCase: Sendable, CustomStringConvertible {
        let input: [UInt8]
        let line: Int
        let column: Int
        let message: String
        var description: String { message }
        init(_ text: String, _ line: Int, _ column: Int, _ message: String) {
            self.init(Array(text.utf8), line, column, message)
        }
        init(_ bytes: [UInt8], _ line: Int, _ column: Int, _ message: String) {
            input = bytes; self.line = line; self.column = column; self.message = message
        }
    }

    @Test(arguments: [
        BadCase("[\n  {\"a\": 1},\n  {\"b\": ", 3, 9, "truncated"),
        BadCase("{\"a\": 1,}", 1, 9, "expected a quoted key"),
        BadCase("[1 2]", 1, 4, "expected ',' or ']'"),
        BadCase("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key \"a\""),
        BadCase("[01]", 1, 2, "leading zero"),
        BadCase("[\"a\u{1}\"]", 1, 4, "control character"),
        BadCase("[\"\\ud800x\"]", 1, 3, "lone UTF-16 surrogate"),
        BadCase("[tru]", 1, 2, "expected 'true'"),
        BadCase("{} {}", 1, 4, "after the end of the JSON value"),
        BadCase([0x5B, 0x0A, 0x22, 0x61, 0xFF, 0x22, 0x5D], 2, 3, "invalid UTF-8"),
        BadCase("", 1, 1, "truncated"),
    ])
    func reportsWhereAndWhat(_ c: BadCase) {
        do {
            _ = try JSONParser.parse(c.input)
            Issue.record("parsed invalid JSON: \(c.message)")
        } catch {
            #expect(error.line == c.line, "\(error)")
            #expect(error.column == c.column, "\(error)")
            #expect(error.message.contains(c.message), "\(error)")
        }
    }

    @Test func refusesNestingThatWouldExhaustTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test(.enabled(if: Fixtures.hasSharedSamples, Comment(rawValue: Fixtures.noSharedSamples))) func theSharedInvalidSampleFailsCleanly() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedSample("04-dexie-historic-prerelease-test-data.INVALID.json"))))
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bytes) }
    }

    /// Regression: sniffing the shape of a document with mismatched brackets (the shared INVALID sample)
    /// used to loop for ever.
    @Test(.timeLimit(.minutes(1)), arguments: ["[1, }", "{\"a\": [1}", "[[[", "{\"a\" 1}", "[\"unterminated"])
    func shapeOfMalformedInputTerminates(_ text: String) {
        #expect(JSONParser.shape(of: Array(text.utf8)) == (text.hasPrefix("[") ? .array : .object))
        #expect(throws: JSONSyntaxError.self) { try JSONParser.forEachElementRange(in: 0..<text.utf8.count, of: Array(text.utf8)) { _ in } }
    }

    @Test func findsArrayElementsWithoutParsingThemAndParsesThemInPlace() throws {
        let bytes = Array("{\"x\": {\"rows\": [\n {\"a\": \"]\"},\n 2,\n [3]\n]}}".utf8)
        let doc = try JSONParser.parse(bytes, deferringArraysUnder: "rows")
        let rows = try #require(doc.objectValue?["x"]?.objectValue?["rows"])
        let range = try #require(JSONParser.deferredRange(rows))
        var elements: [Range<Int>] = []
        try JSONParser.forEachElementRange(in: range, of: bytes) { elements.append($0) }
        let index = LineIndex(bytes)
        #expect(elements.map { index.lineColumn(of: $0.lowerBound).line } == [2, 3, 4])
        #expect(try elements.map { try JSONParser.parse(bytes, range: $0) } == [.object(["a": .string("]")]), .int(2), .array([.int(3)])])
        // A parse error inside an element names the line in the whole document.
        let broken = Array("[\n 1,\n {\"a\" 2}\n]".utf8)
        var ranges: [Range<Int>] = []
        try? JSONParser.forEachElementRange(in: 0..<broken.count, of: broken) { ranges.append($0) }
        do {
            _ = try JSONParser.parse(broken, range: ranges.last ?? 0..<0)
            Issue.record("parsed a broken element")
        } catch {
            #expect(error.line == 3)
        }
    }

    /// Differential: on generated documents, the parser agrees with Foundation's JSONSerialization.
    @Test func agreesWithFoundationOnGeneratedDocuments() throws {
        var gen = InventoryGenerator(seed: 7, typedValues: false)
        for _ in 0..<300 {
            let value = gen.plainValue(depth: 0)
            let bytes = JSONValue.array([value]).jsonBytes
            let ours = try JSONParser.parse(bytes)
            let theirs = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            #expect(Self.same(ours, theirs), "\(String(decoding: bytes, as: UTF8.self))")
            // And writing what we read gives the same bytes again.
            #expect(ours.jsonBytes == bytes)
        }
    }

    /// Foundation on Linux differs from RFC 8259 in two known ways, so the comparison allows for them:
    /// it drops U+FEFF inside strings (we keep it: see `keepsAByteOrderMarkInsideAString`), and it returns
    /// large exponents as `Decimal`, whose digits (not its `doubleValue`) are exact.
    static func same(_ a: JSONValue, _ b: Any) -> Bool {
        func text(_ s: String) -> [Unicode.Scalar] { s.unicodeScalars.filter { $0 != "\u{FEFF}" } }
        switch a {
        case .null: return b is NSNull
        case .bool(let x): return (b as? NSNumber)?.boolValue == x
        case .int(let x): return (b as? NSNumber).map { $0.int64Value == x || Double("\($0)") == Double(x) } ?? false
        case .double(let x): return (b as? NSNumber).map { Double("\($0)") == x } ?? false
        case .string(let x): return (b as? String).map { text($0) == text(x) } ?? false
        case .array(let xs):
            guard let ys = b as? [Any], ys.count == xs.count else { return false }
            return zip(xs, ys).allSatisfy { same($0, $1) }
        case .object(let o):
            guard let d = b as? [String: Any], d.count == o.count else { return false }
            let byScalars = Dictionary(d.map { (String(String.UnicodeScalarView(text($0.key))), $0.value) }, uniquingKeysWith: { a, _ in a })
            return o.allSatisfy { k, v in byScalars[String(String.UnicodeScalarView(text(k)))].map { same(v, $0) } ?? false }
        case .typed: return false
        }
    }

    @Test func keepsAByteOrderMarkInsideAString() throws {
        #expect(try JSONParser.parse("[\"\u{FEFF}x\"]") == .array([.string("\u{FEFF}x")]))
    }
}

/// ``JSONParser/valueCount(_:)``: what a reader of untrusted documents checks before parsing them. It must never
/// count fewer values than the parsed document holds (commas and brackets inside strings, escaped quotes).
@Suite struct JSONValueCountTests {
    func values(_ v: JSONValue) -> Int {
        switch v {
        case .array(let a): 1 + a.reduce(0) { $0 + values($1) }
        case .object(let o): 1 + o.values.reduce(0) { $0 + values($1) }
        case .typed(_, let inner): values(inner)
        default: 1
        }
    }

    @Test func theCountIsAnUpperBoundAndCloseForSpools() throws {
        let docs = [
            #"[]"#, #"{}"#, #"1"#, #""a,b[c{d""#, #"["x\",[{", 2, {"k": [1, 2, {}]}]"#,
            #"{"success":true,"changes":[{"serial":"S,1","lastUpdated":1},{"serial":"S\\","lastUpdated":2}],"deletions":["a","b"]}"#,
        ]
        for d in docs {
            let parsed = try JSONParser.parse(d)
            #expect(JSONParser.valueCount(Array(d.utf8)) >= values(parsed), "\(d)")
        }
        // 1,000 spools of 3 fields: 4,000 values and the page's wrapper; the count is within a few of them.
        let page = #"{"changes":["# + (0..<1000).map { #"{"serial":"S\#($0)","lastUpdated":\#($0),"brand":"a, b [c]"}"# }.joined(separator: ",") + "]}"
        let exact = values(try JSONParser.parse(page))
        let counted = JSONParser.valueCount(Array(page.utf8))
        #expect(counted >= exact && counted <= exact + 10, "\(counted) for \(exact)")
    }
}

/// What `printableText` makes of text another party chose.
@Suite struct PrintableTextTests {
    @Test func controlsAndReorderingMarksAreWrittenOut() {
        // U+202E reverses what follows on screen ("exe.txt" reads "txt.exe"); U+2066 to U+2069 isolate; C0, C1.
        let text = "file\u{202E}txt.exe \u{2066}a\u{2069} \u{200F}\u{061C} \u{1B}[31m\u{85}"
        let shown = printableText(text)
        #expect(shown == #"file\u{202e}txt.exe \u{2066}a\u{2069} \u{200f}\u{61c} \u{1b}[31m\u{85}"#, "\(shown)")
        #expect(printableText("plain ünïcødé ✓") == "plain ünïcødé ✓")
    }
}

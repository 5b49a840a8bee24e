import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// Crashes the fuzzer found, each kept as a test of its own.
@Suite(.serialized) struct FuzzFindingTests {
    let dir = Fixtures.temporaryDirectory()

    /// Seed 7, case 710: a Dexie header's `rowCount` too large for an integer (`1E+308`) trapped in a conversion
    /// to Int. rowCount is unreliable anyway: the rows are read, and the report says the count disagrees.
    @Test func aRowCountTooLargeForAnInteger() throws {
        for count in ["1E+308", "-1e20", "9223372036854775808", "2.5"] {
            let input = dir + "/rowcount.dexie.json"
            let text = try String(contentsOfFile: Fixtures.path("dexie/webapp-v1-2022.dexie.json"), encoding: .utf8)
                .replacingOccurrences(of: #""rowCount":3"#, with: #""rowCount":\#(count)"#)
            #expect(text.contains(#""rowCount":\#(count)"#))
            try Data(text.utf8).write(to: URL(fileURLWithPath: input))
            let r = try CLI.run(["convert", input, dir + "/out.jsonl", "--now", "0"], timeout: 20)
            #expect(r.status == 0, "\(count): \(r.summary)")
            #expect(r.stdout.contains("the header's rowCount says") && r.stdout.contains("the table holds 3"), "\(count): \(r.stdout)")
        }
    }
}

// Converts a generated 100,000-spool Dexie export to CSV, the CSV to SQLite, and the SQLite back to a Dexie
// export, once with filamentdb and once with the Python baseline (json, csv and sqlite3 from its standard
// library), in the same run on the same data. Each leg runs as its own process so that its peak memory
// (the child's maximum resident set size from wait4) is its own. Prints the median time of each leg, the
// peak memory, and the ratios.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var spools = 100_000
    var runs = 3
    var filamentdb = ""
    var baseline = ""
    var python = "python3"
    var work = NSTemporaryDirectory() + "/filamentdb-benchmark"

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--spools": spools = Int(args.popFirst() ?? "") ?? spools
            case "--runs": runs = max(1, Int(args.popFirst() ?? "") ?? runs)
            case "--filamentdb": filamentdb = args.popFirst() ?? ""
            case "--baseline": baseline = args.popFirst() ?? ""
            case "--python": python = args.popFirst() ?? python
            case "--work": work = args.popFirst() ?? work
            default:
                FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
                exit(64)
            }
        }
        if filamentdb.isEmpty || baseline.isEmpty {
            FileHandle.standardError.write(Data("usage: ConversionBenchmark --filamentdb PATH --baseline baseline.py [--spools N] [--runs N] [--python python3] [--work DIR] (or use Benchmarks/run)\n".utf8))
            exit(64)
        }
    }
}

/// SplitMix64, so the generated inventory is the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A web-app export at schema 3: realistic spools, every record with `lastUpdated`, a few unknown fields.
/// Run in a child process and written in chunks: the driver must stay small, because on Linux a child's
/// peak RSS (from wait4) starts from what its parent had when it was started.
func generateExport(spools: Int, to path: String) throws {
    var rng = SplitMix(state: 42)
    let brands = ["Prusament", "Polymaker", "eSun", "Bambu Lab", "Overture", "Fiberlogy", "SUNLU", "ELEGOO"]
    let types = ["PLA", "PETG", "ABS", "ASA", "TPU"]
    let colors = ["Galaxy Black", "Jade White", "Sakura Pink", "Orange", "Space Grey", "Teal"]
    FileManager.default.createFile(atPath: path, contents: nil)
    let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? file.close() }
    var out = "{\"formatName\":\"dexie\",\"formatVersion\":1,\"data\":{\"databaseName\":\"FilamentDB\",\"databaseVersion\":3,\"tables\":[{\"name\":\"spools\",\"schema\":\"++id,serial,brand,type,color,lastScanned,lastUpdated\",\"rowCount\":\(spools)}],\"data\":[{\"tableName\":\"spools\",\"inbound\":true,\"rows\":["
    for i in 1...spools {
        let hex = String(format: "%06X", Int.random(in: 0..<0xFFFFFF, using: &rng))
        let remaining = Double(Int.random(in: 0...100_000, using: &rng)) / 100
        let t: Int64 = 1_700_000_000_000 + Int64(i) * 1000
        if i > 1 { out += "," }
        out += "{\"id\":\(i),\"serial\":\"SPOOL-\(String(format: "%06d", i))-\(hex)\",\"brand\":\"\(brands.randomElement(using: &rng)!)\",\"series\":\"Series \(i % 17)\",\"type\":\"\(types.randomElement(using: &rng)!)\",\"color\":\"\(colors.randomElement(using: &rng)!)\",\"colorHex\":\"#\(hex)\",\"finish\":\"matte\",\"weightTotal\":1000,\"weightRemaining\":\(remaining),\"weightSpool\":\(150 + i % 100),\"diameter\":1.75,\"density\":1.24,\"temperatureNozzleMin\":200,\"temperatureNozzleMax\":230,\"temperatureBedMin\":50,\"temperatureBedMax\":65,\"tags\":[\"shelf-\(i % 40)\",\"favourite\"],\"countryOfOrigin\":\"CZ\",\"batchNumber\":\"B\(i % 9999)\",\"productionDate\":\"2024-04-12\",\"nfcTagSerial\":\"04:\(String(format: "%02X", i % 256)):3B:91:5C:71:80\",\"nfcTagHistory\":[{\"timestamp\":\(t - 5000),\"action\":\"assigned\",\"tagSerial\":\"04:A2:3B:91:5C:71:80\"}],\"lastScanned\":\(t),\"notes\":\"Dry before use; stored with desiccant.\",\"lastUpdated\":\(t),\"createdAt\":\(t - 86_400_000),\"location\":\"Shelf \(i % 40)\",\"purchasePrice\":{\"amount\":\(20 + i % 15).99,\"currency\":\"EUR\"}}"
        if out.utf8.count > 1 << 20 {
            file.write(Data(out.utf8))
            out = ""
        }
    }
    out += "]}]}}"
    file.write(Data(out.utf8))
}

struct Measurement {
    var seconds: Double
    var peakBytes: Int
}

/// Runs a command, waits for it with wait4, and returns its wall time and maximum resident set size.
func measure(_ argv: [String]) -> Measurement {
    var pid: pid_t = 0
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let start = Date()
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, &cArgs, environ)
    guard rc == 0 else {
        FileHandle.standardError.write(Data("cannot run \(argv[0]): \(String(cString: strerror(rc)))\n".utf8))
        exit(1)
    }
    var status: Int32 = 0
    var usage = rusage()
    _ = wait4(pid, &status, 0, &usage)
    let seconds = Date().timeIntervalSince(start)
    if status != 0 {
        FileHandle.standardError.write(Data("\(argv.joined(separator: " ")) failed with status \(status)\n".utf8))
        exit(1)
    }
    return Measurement(seconds: seconds, peakBytes: Int(usage.ru_maxrss) * 1024)
}

func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

// `ConversionBenchmark --generate PATH N`: the child that writes the input.
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--generate" {
    try generateExport(spools: Int(CommandLine.arguments[3]) ?? 100_000, to: CommandLine.arguments[2])
    exit(0)
}

let options = Options()
try? FileManager.default.removeItem(atPath: options.work)
try FileManager.default.createDirectory(atPath: options.work, withIntermediateDirectories: true)
let w = options.work
let export = w + "/inventory.dexie.json"
print("generating \(options.spools) spools…")
// In a child process, so that this driver stays small (see generateExport).
_ = measure([CommandLine.arguments[0], "--generate", export, String(options.spools)])
print("input: \(export), \(mb(size(export)))")
print("\(options.runs) run\(options.runs == 1 ? "" : "s") per leg; time is the median, memory the largest peak RSS")
print("")

struct Leg {
    var name: String
    var ours: (String, String)
    var theirs: (String, String)
}
let legs = [
    Leg(name: "dexie-to-csv", ours: (export, w + "/f.csv"), theirs: (export, w + "/p.csv")),
    Leg(name: "csv-to-sqlite", ours: (w + "/f.csv", w + "/f.sqlite"), theirs: (w + "/p.csv", w + "/p.sqlite")),
    Leg(name: "sqlite-to-dexie", ours: (w + "/f.sqlite", w + "/f.dexie.json"), theirs: (w + "/p.sqlite", w + "/p.dexie.json")),
]

func median(_ runs: [Measurement]) -> Measurement {
    let sorted = runs.map(\.seconds).sorted()
    return Measurement(seconds: sorted[sorted.count / 2], peakBytes: runs.map(\.peakBytes).max()!)
}

print(pad("leg", 16) + pad("input", 10) + pad("filamentdb", 12) + pad("python", 10) + pad("time ratio", 12) + pad("fdb peak", 11) + pad("py peak", 11) + "fdb peak / input")
var allFaster = true, allLean = true
for leg in legs {
    var ours: [Measurement] = [], theirs: [Measurement] = []
    for _ in 0..<options.runs {
        try? FileManager.default.removeItem(atPath: leg.ours.1)
        try? FileManager.default.removeItem(atPath: leg.theirs.1)
        ours.append(measure([options.filamentdb, "convert", leg.ours.0, leg.ours.1, "--now", "0"]))
        theirs.append(measure([options.python, options.baseline, leg.name, leg.theirs.0, leg.theirs.1]))
    }
    let o = median(ours), t = median(theirs)
    let input = size(leg.ours.0)
    let memoryRatio = Double(o.peakBytes) / Double(max(input, 1))
    allFaster = allFaster && o.seconds < t.seconds
    allLean = allLean && memoryRatio < 3
    print(pad(leg.name, 16) + pad(mb(input), 10) + pad(String(format: "%.2f s", o.seconds), 12) + pad(String(format: "%.2f s", t.seconds), 10)
          + pad(String(format: "%.2fx", t.seconds / o.seconds), 12) + pad(mb(o.peakBytes), 11) + pad(mb(t.peakBytes), 11)
          + String(format: "%.2fx", memoryRatio))
}
print("\ntime ratio = python / filamentdb (above 1: filamentdb is faster). Goals: faster on every leg (\(allFaster ? "met" : "not met")), peak under 3x the input (\(allLean ? "met" : "not met")).")

// Converts a generated 100,000-spool Dexie export to CSV, the CSV to SQLite, and the SQLite back to a Dexie
// export, once with filamentdb and once with the Python baseline (json, csv and sqlite3 from its standard
// library), in the same run on the same data. Each leg runs as its own process so that its peak memory
// (the child's maximum resident set size from wait4) is its own. Prints the median time of each leg, the
// peak memory, and the ratios. Then the scaling shapes: the same conversion at n, 2n and 4n spools, with the
// ratio of each time to the one before (`--scaling-only` runs just those).

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
    /// Sizes of the scaling shapes (issue 10, items 10 and 11), each run at n, 2n and 4n: n is this for the
    /// shared serial, four times this for the ZIP.
    var scalingSpools = 5_000
    /// Only the scaling shapes, not the legs against Python.
    var scalingOnly = false

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
            case "--scaling-spools": scalingSpools = Int(args.popFirst() ?? "") ?? scalingSpools
            case "--scaling-only": scalingOnly = true
            default:
                FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
                exit(64)
            }
        }
        if filamentdb.isEmpty || (baseline.isEmpty && !scalingOnly) {
            FileHandle.standardError.write(Data("usage: ConversionBenchmark --filamentdb PATH --baseline baseline.py [--spools N] [--runs N] [--python python3] [--work DIR] [--scaling-spools N] [--scaling-only] (or use Benchmarks/run)\n".utf8))
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

/// `count` records sharing one serial and one Dexie id (a web app at schema 2 allows it): every record but
/// the first is renamed, the shape that made renaming quadratic (issue 10, item 11).
func generateSharedSerial(count: Int, to path: String) throws {
    var out = "["
    for i in 0..<count {
        if i > 0 { out += ",\n" }
        out += "{\"id\":1,\"serial\":\"GENERIC-PLA\",\"brand\":\"eSun\",\"weightRemaining\":\(i % 1000),\"lastUpdated\":\(1_700_000_000_000 + i)}"
    }
    try Data((out + "]").utf8).write(to: URL(fileURLWithPath: path))
}

// `ConversionBenchmark --generate PATH N`: the child that writes the input.
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--generate" {
    try generateExport(spools: Int(CommandLine.arguments[3]) ?? 100_000, to: CommandLine.arguments[2])
    exit(0)
}
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--generate-shared-serial" {
    try generateSharedSerial(count: Int(CommandLine.arguments[3]) ?? 20_000, to: CommandLine.arguments[2])
    exit(0)
}

let options = Options()
try? FileManager.default.removeItem(atPath: options.work)
try FileManager.default.createDirectory(atPath: options.work, withIntermediateDirectories: true)
let w = options.work

/// Shapes that once grew quadratically: the time at n, 2n and 4n, and the ratio of each to the one before
/// (about 2 when the work is linear, about 4 when it is quadratic). Figures only; nothing is asserted.
func runScalingShapes() {
    struct Shape {
        var name: String
        var generator: String
        var output: String
        var smallest: Int
    }
    let shapes = [
        // A realistic inventory to the web app's backup ZIP (item 10: the archive was rebuilt per entry).
        Shape(name: "dexie-to-zip", generator: "--generate", output: "zip", smallest: options.scalingSpools * 4),
        // Every record sharing one serial and one id, to JSON Lines (item 11: renaming duplicates).
        Shape(name: "shared-serial-to-jsonl", generator: "--generate-shared-serial", output: "jsonl", smallest: options.scalingSpools),
    ]
    print("\nscaling (median of \(options.runs) run\(options.runs == 1 ? "" : "s"); ratio = time(2n) / time(n), about 2 if linear, 4 if quadratic)")
    print(pad("shape", 24) + pad("spools", 10) + pad("input", 10) + pad("time", 10) + "ratio")
    for shape in shapes {
        var previous: Double?
        for n in [shape.smallest, shape.smallest * 2, shape.smallest * 4] {
            let input = w + "/\(shape.name)-\(n).json", output = w + "/\(shape.name)-\(n).\(shape.output)"
            _ = measure([CommandLine.arguments[0], shape.generator, input, String(n)])
            var runs: [Measurement] = []
            for _ in 0..<options.runs {
                try? FileManager.default.removeItem(atPath: output)
                runs.append(measure([options.filamentdb, "convert", input, output, "--now", "0"]))
            }
            let t = median(runs).seconds
            print(pad(shape.name, 24) + pad(String(n), 10) + pad(mb(size(input)), 10) + pad(String(format: "%.2f s", t), 10)
                  + (previous.map { String(format: "%.2f", t / $0) } ?? "-"))
            previous = t
        }
    }
}

func median(_ runs: [Measurement]) -> Measurement {
    let sorted = runs.map(\.seconds).sorted()
    return Measurement(seconds: sorted[sorted.count / 2], peakBytes: runs.map(\.peakBytes).max()!)
}

if options.scalingOnly {
    runScalingShapes()
    exit(0)
}
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
runScalingShapes()

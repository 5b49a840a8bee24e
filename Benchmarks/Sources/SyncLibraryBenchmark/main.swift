// The sync server's own work, in process (no HTTP): what each request costs the history, to tell it apart
// from the cost of the HTTP layer (Benchmarks/run-sync measures the whole path over loopback).
//   - a first sync of 10,000 spools (a new device downloading the inventory);
//   - delta syncs: a device with a cursor sends 10 changed spools against a 100,000-spool server (p50, p99);
// and, as the floor, one durable commit's worth of disk work: a small file written, fsynced and renamed, its
// folder fsynced.

import Foundation
import SpoolHistory
import SpoolModel
import SpoolSync

var size = 100_000
var deltas = 200
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--size": size = Int(args.popFirst() ?? "") ?? size
    case "--deltas": deltas = Int(args.popFirst() ?? "") ?? deltas
    default:
        FileHandle.standardError.write(Data("usage: SyncLibraryBenchmark [--size 100000] [--deltas 200]\n".utf8))
        exit(64)
    }
}

func spool(_ i: Int, version: Int) -> JSONValue {
    .object([
        "serial": .string("SPOOL-\(i)"), "brand": .string(["Prusament", "eSun", "Polymaker"][i % 3]),
        "type": .string("PLA"), "color": .string("Color \(i % 50)"), "weightTotal": .int(1000),
        "weightRemaining": .int(Int64(1000 - (i + version * 7) % 1000)), "diameter": .double(1.75),
        "lastUpdated": .int(1_700_000_000_000 + Int64(version) * 1000), "notes": .string("Spool \(i), version \(version)"),
    ])
}

func millis(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}

let work = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-sync-benchmark-\(getpid())").path
try? FileManager.default.removeItem(atPath: work)
defer { try? FileManager.default.removeItem(atPath: work) }

// The floor: one durable small write.
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
var floors: [Double] = []
for n in 0..<200 {
    floors.append(try await millis {
        let path = work + "/floor.tmp"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = [UInt8](repeating: 0x61, count: 1024).withUnsafeBytes { write(fd, $0.baseAddress, 1024) }
        fsync(fd)
        close(fd)
        rename(path, work + "/floor-\(n % 2)")
        let dir = open(work, O_RDONLY)
        fsync(dir)
        close(dir)
    })
}
print(String(format: "floor: one durable commit (write 1 KB, fsync, rename, fsync folder): p50 %.3f ms", percentile(floors, 0.5)))

let store = try InventoryStore(dataFolder: work + "/server")
let service = SyncService(store: store)
// Seed in batches of 10,000, the way a device uploads.
var cursor: String?
let seeding = try await millis {
    for chunk in stride(from: 0, to: size, by: 10_000) {
        let r = try await service.sync(SyncRequest(deviceId: "seed", cursor: cursor, changes: (chunk..<min(chunk + 10_000, size)).map { spool($0, version: 0) }))
        cursor = r.cursor
    }
}
print(String(format: "seed: %d spools uploaded in batches of 10,000: %.0f ms", size, seeding))

// A first sync of 10,000 spools: a new device downloading a 10,000-spool inventory (a separate server).
let small = SyncService(store: try InventoryStore(dataFolder: work + "/small"))
_ = try await small.sync(SyncRequest(deviceId: "seed", changes: (0..<10_000).map { spool($0, version: 0) }))
var firsts: [Double] = []
for n in 0..<5 {
    firsts.append(try await millis {
        let r = try await small.sync(SyncRequest(deviceId: "new-\(n)"))
        precondition(r.changes.count == 10_000)
        _ = r.jsonBytes
    })
}
print(String(format: "first sync, 10,000 spools down (response encoded): median %.1f ms", percentile(firsts, 0.5)))

// Delta syncs: 10 changed spools from a device with a cursor.
var device = try await service.sync(SyncRequest(deviceId: "delta", cursor: cursor)).cursor
var times: [Double] = []
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
let cpuBefore = cpuSeconds()
for n in 0..<deltas {
    let changes = (0..<10).map { spool((n * 10 + $0 * 997) % size, version: n + 1) }
    times.append(try await millis {
        let r = try await service.sync(SyncRequest(deviceId: "delta", cursor: device, changes: changes))
        device = r.cursor
        _ = r.jsonBytes
    })
}
let cpuPerDelta = (cpuSeconds() - cpuBefore) / Double(deltas) * 1e6
print(String(format: "delta sync, 10 changes against %d spools: p50 %.2f ms, p99 %.2f ms; the process's CPU (every thread) %.0f us a sync", size, percentile(times, 0.5), percentile(times, 0.99), cpuPerDelta))

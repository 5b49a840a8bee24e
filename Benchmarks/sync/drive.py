"""The sync benchmark's client: drives one sync server (the Python baseline or `filamentdb serve`) on loopback
through the protocol of shared/SYNC-PROTOCOL.md and measures, in this order:

  floor       the cost of one durable commit on this disk: create a file, write 1 KB, fsync it, fsync its
              folder (median of 200), measured in the data folder's file system before the server is driven;
              also an append of 1 KB to an open log + fsync (what a JSON-lines log pays per request)
  upload      a first sync that uploads N spools (default 10,000) from a new device to an empty server, in
              batches, end to end (one run: only the first upload finds the server empty)
  first sync  a new device (lastSyncTime 0, no changes) downloads the whole N-spool inventory, end to end with
              the client's JSON parse (median of 5, a new device each time); also the server's part alone, from
              sending the request to the answer's last byte (the rest is the client's JSON parse, the same
              work whichever server answered)
  delta       the server is brought to M spools (default 100,000) and left until it is idle (its CPU under 2% of a
              core for 0.25 s: with --server-pid, the time and CPU that took are printed, the seed's deferred work);
              then one device with a cursor sends 10 changed spools per request and reads the answer; 200
              requests after 10 of warm-up; p50 and p99
  sustained   8 devices, each its own process with its own keep-alive connection (processes, not threads: the
              client's JSON work must not share one GIL), loop syncs of 1-3 changes for 5 s; syncs per second
              over the whole window, and errors (any non-200, any answer without success, any socket error)

With `--server-pid PID` (run-sync passes it), the server process's CPU time (user + system, from /proc) is read
around the upload and the delta phase: CPU milliseconds for the upload and per delta request, every thread of the
server counted (its background work too). On a 2-core machine that the client shares, a server's CPU per request
is most of its latency, and it moves less with the machine's load than a time does.

Each device keeps one keep-alive connection (http.client, TCP_NODELAY). The spools are shaped like the web app's
(22 fields). Every device changes only its own share of the serials, so the last value it was acknowledged for
each is known (what it sent, or the server's copy when the answer sends one back): `--expect FILE` writes those, and `drive.py verify` checks them against the server's inventory
(run after restarting the server on the same data: every acknowledged sync must still be there).

usage: drive.py --url http://127.0.0.1:PORT --key KEY [--floor-dir DIR] [--quick] [--json] [--expect FILE]
                [--spools 10000] [--server-spools 100000] [--first-runs 5] [--deltas 200] [--delta-changes 10]
                [--devices 8] [--seconds 5] [--batch 5000] [--floor-runs 200] [--server-pid PID]
       drive.py verify --url URL --key KEY --expect FILE
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse

_dumps = json.JSONEncoder(separators=(",", ":")).encode

BRANDS = ["Prusament", "Polymaker", "eSun", "Bambu Lab", "Overture", "Fiberlogy", "SUNLU", "ELEGOO"]
TYPES = ["PLA", "PETG", "ABS", "ASA", "TPU"]
COLORS = ["Galaxy Black", "Jade White", "Sakura Pink", "Orange", "Space Grey", "Teal"]
T0 = 1_700_000_000_000


def serial(i):
    return "SPOOL-%06d-%06X" % (i, (i * 2654435761) & 0xFFFFFF)


def index(serial_text):
    """The number of a spool `serial` names, or None."""
    try:
        return int(serial_text.split("-")[1])
    except (AttributeError, IndexError, ValueError):
        return None


def took_back(ans, mine, weights, acked):
    """What an answer sends back of the device's own spools is what the server kept for them: a server that
    overrules a change (its copy is newer: the baseline's whole-record last-write-wins) or merges it says so
    by sending its copy, and the device takes that copy. So that copy, not what the device sent, is what the
    server acknowledged, and what must still be there after a restart."""
    for s in ans.get("changes") or []:
        i = index(s.get("serial"))
        if i is not None and mine(i) and "weightRemaining" in s:
            weights[i] = s["weightRemaining"]
            acked[s["serial"]] = s["weightRemaining"]


def spool(i, weight=None, last_updated=None):
    """Spool number i as the web app stores it, with its Dexie id on the uploading device."""
    t = T0 + i * 1000
    hexc = "#%06X" % ((i * 2654435761) & 0xFFFFFF)
    return {"id": i + 1, "serial": serial(i), "brand": BRANDS[i % 8], "series": "Series %d" % (i % 17),
            "type": TYPES[i % 5], "color": COLORS[i % 6], "colorHex": hexc, "finish": "matte",
            "weightTotal": 1000, "weightRemaining": initial_weight(i) if weight is None else weight,
            "weightSpool": 150 + i % 100, "diameter": 1.75, "density": 1.24,
            "temperatureNozzleMin": 200, "temperatureNozzleMax": 230, "temperatureBedMin": 50, "temperatureBedMax": 65,
            "tags": ["shelf-%d" % (i % 40)], "location": "Shelf %d" % (i % 40), "lastScanned": t,
            "createdAt": t - 86_400_000, "lastUpdated": t if last_updated is None else last_updated}


def initial_weight(i):
    return 250 + (i * 7919) % 75000 / 100


class Device:
    """One device: a keep-alive connection and the sync state the web app keeps (lastSyncTime, cursor)."""

    def __init__(self, url, key, device_id):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.key, self.id = key, device_id
        self.conn = None
        self.last_sync, self.cursor = 0, None
        self.clock = 0
        self.received = None

    def connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def now(self):
        """Milliseconds, strictly increasing on this device: the lastUpdated of one request's edits."""
        self.clock = max(int(time.time() * 1000), self.clock + 1)
        return self.clock

    def sync(self, changes, limit=None):
        """One POST /api/sync; returns (status, parsed answer or None). Keeps the cursor of a successful answer.
        `self.received` is the time.perf_counter() at which the answer's last byte was read."""
        req = {"apiKey": self.key, "deviceId": self.id, "lastSyncTime": self.last_sync, "changes": changes,
               "deletions": [], "clientTime": int(time.time() * 1000)}
        if self.cursor is not None:
            req["cursor"] = self.cursor
        if limit is not None:
            req["limit"] = limit
        body = _dumps(req).encode()
        if self.conn is None:
            self.connect()
        try:
            self.conn.request("POST", "/api/sync", body, {"Content-Type": "application/json",
                                                          "Authorization": "Bearer " + self.key})
            resp = self.conn.getresponse()
            data = resp.read()
            self.received = time.perf_counter()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if resp.will_close:
            self.conn.close()
            self.conn = None
        if resp.status != 200:
            return resp.status, None
        ans = json.loads(data)
        if ans.get("success") is True:
            self.last_sync, self.cursor = ans["serverTime"], ans.get("cursor")
        return resp.status, ans

    def get(self, path):
        if self.conn is None:
            self.connect()
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.key})
        resp = self.conn.getresponse()
        return resp.status, json.loads(resp.read())


def ok(status, ans):
    return status == 200 and ans is not None and ans.get("success") is True


def must(status, ans, what):
    if not ok(status, ans):
        sys.exit("drive.py: %s failed: HTTP %s %s" % (what, status, ans))
    return ans


def ms(seconds):
    return seconds * 1000.0


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))]


def cpu_ms(pid):
    """The CPU time (user + system, all threads) process `pid` has used, in ms; `None` without /proc or a pid."""
    if not pid:
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's ")": state is field 3, utime and stime fields 14 and 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def settle(pid, quiet=0.02, window=0.25, longest=30.0):
    """Waits until the server `pid` uses less than `quiet` of a core over `window` seconds (at most `longest`).
    Returns (seconds waited, the CPU ms it used meanwhile), or None without a pid (then it waits one window)."""
    if not pid:
        time.sleep(window)
        return None
    start, first = time.monotonic(), cpu_ms(pid)
    while time.monotonic() - start < longest:
        before = cpu_ms(pid)
        time.sleep(window)
        if cpu_ms(pid) - before < quiet * window * 1000:
            break
    return time.monotonic() - start, cpu_ms(pid) - first


def floor(folder, runs):
    """Median cost of one durable commit (new file, 1 KB, fsync file, fsync folder), and of a durable 1 KB append."""
    d = tempfile.mkdtemp(prefix="floor-", dir=folder)
    data = os.urandom(1024)
    commit, append = [], []
    log = os.open(os.path.join(d, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for i in range(runs):
            t = time.perf_counter()
            fd = os.open(os.path.join(d, "c%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            commit.append(time.perf_counter() - t)
            t = time.perf_counter()
            os.write(log, data)
            os.fsync(log)
            append.append(time.perf_counter() - t)
    finally:
        os.close(log)
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    return ms(statistics.median(commit)), ms(statistics.median(append))


def upload(dev, first, count, batch):
    """Uploads spools first..<first+count in batches; halves the batch on a 413 (a server's batch limit), as a
    client told to upload in smaller batches would. Returns the batch size used last."""
    lo = first
    while lo < first + count:
        status, ans = dev.sync([spool(i) for i in range(lo, min(lo + batch, first + count))])
        if status == 413 and batch > 1:
            batch //= 2
            continue
        must(status, ans, "upload of spools %d-%d" % (lo, min(lo + batch, first + count) - 1))
        lo += batch
    return batch


def sustained_worker(url, key, k, devices, seconds, server_spools, cursor, last_sync, weights, barrier, out):
    """Device k: syncs 1-3 changes of its own serials (index % devices == k) in a loop until the deadline."""
    rng = random.Random(1000 + k)
    dev = Device(url, key, "bench-device-%d" % k)
    dev.cursor, dev.last_sync = cursor, last_sync
    result = {"count": 0, "errors": 0, "latencies": [], "acked": {}, "received": 0, "error_samples": []}
    try:
        status, ans = dev.sync([])         # warm-up: the connection, and this device's first request
        if not ok(status, ans):
            result["errors"] += 1
            result["error_samples"].append("warm-up: HTTP %s" % status)
        result["warmup_changes"] = len(ans["changes"]) if ans else None
        own = range(k, server_spools, devices)
        barrier.wait()
        cpu = time.process_time()
        start = time.monotonic()
        deadline = start + seconds
        end = start
        while end < deadline:
            changes, now = [], dev.now()
            for i in rng.sample(own, rng.randint(1, 3)):
                w = max(0.0, round(weights.get(i, initial_weight(i)) - rng.randint(1, 500) / 100, 2))
                weights[i] = w
                changes.append(spool(i, weight=w, last_updated=now))
            t = time.perf_counter()
            try:
                status, ans = dev.sync(changes)
            except (OSError, http.client.HTTPException, ValueError) as e:
                status, ans = repr(e), None
            result["latencies"].append(time.perf_counter() - t)
            end = time.monotonic()
            result["count"] += 1
            if ok(status, ans):
                for s in changes:
                    result["acked"][s["serial"]] = s["weightRemaining"]
                took_back(ans, lambda i: i % devices == k, weights, result["acked"])
                result["received"] += len(ans["changes"])
            else:
                result["errors"] += 1
                if len(result["error_samples"]) < 3:
                    result["error_samples"].append("HTTP %s %s" % (status, ans))
        result["start"], result["end"] = start, end
        result["cpu"] = time.process_time() - cpu
    except Exception as e:                  # report, never hang the parent
        result["errors"] += 1
        result["error_samples"].append(repr(e))
        result.setdefault("start", time.monotonic())
        result.setdefault("end", time.monotonic())
        barrier.abort()
    out.put((k, result))


def run(a):
    log = (lambda *x: print(*x, file=sys.stderr, flush=True)) if a.json else (lambda *x: print(*x, flush=True))
    fig = {"spools": a.spools, "server_spools": a.server_spools, "floor_runs": a.floor_runs}

    fig["floor_commit_ms"], fig["floor_append_ms"] = floor(a.floor_dir, a.floor_runs)
    log("floor: one durable commit on this disk (new file, 1 KB, fsync file, fsync folder): %.3f ms, median of %d"
        % (fig["floor_commit_ms"], a.floor_runs))
    log("       a durable 1 KB append to an open log (write + fsync): %.3f ms" % fig["floor_append_ms"])

    probe = Device(a.url, a.key, "bench-probe")
    status, info = probe.get("/api/sync")
    if status != 200 or info.get("totalSpools") != 0:
        sys.exit("drive.py: the server must start empty (GET /api/sync: HTTP %s %s)" % (status, info))
    fig["spool_bytes"] = len(_dumps(spool(a.spools // 2)))

    # First upload, by a new device, to the empty server.
    up = Device(a.url, a.key, "bench-uploader")
    up.connect()
    t, cpu = time.perf_counter(), cpu_ms(a.server_pid)
    a.batch = upload(up, 0, a.spools, a.batch)
    fig["first_upload_ms"] = ms(time.perf_counter() - t)
    fig["batch"] = a.batch
    log("first upload of %d spools (batches of %d): %.1f ms" % (a.spools, a.batch, fig["first_upload_ms"]))
    if cpu is not None:
        fig["first_upload_cpu_ms"] = cpu_ms(a.server_pid) - cpu
        log("  the server's CPU for it: %.0f ms" % fig["first_upload_cpu_ms"])

    # First sync: new devices download the whole inventory.
    times, served = [], []
    for r in range(a.first_runs):
        dev = Device(a.url, a.key, "bench-first-%d" % r)
        dev.connect()
        t = time.perf_counter()
        ans = must(*dev.sync([]), "first sync")
        times.append(time.perf_counter() - t)
        served.append(dev.received - t)
        if len(ans["changes"]) != a.spools:
            sys.exit("drive.py: a first sync got %d spools, not %d" % (len(ans["changes"]), a.spools))
        dev.conn.close()
    fig["first_sync_ms"] = ms(statistics.median(times))
    fig["first_sync_served_ms"] = ms(statistics.median(served))
    fig["first_sync_bytes"] = len(_dumps(ans))
    log("first sync of %d spools (download, %.1f MB answer): %.1f ms median of %d (min %.1f, max %.1f); "
        "to the answer's last byte %.1f ms"
        % (a.spools, fig["first_sync_bytes"] / 1e6, fig["first_sync_ms"], a.first_runs, ms(min(times)), ms(max(times)),
           fig["first_sync_served_ms"]))

    # Seed to the delta server's size, then delta syncs from the uploader (it holds a cursor).
    t = time.perf_counter()
    if a.server_spools > a.spools:
        upload(up, a.spools, a.server_spools - a.spools, a.batch)
    log("seeded to %d spools in %.1f s" % (a.server_spools, time.perf_counter() - t))
    # The seed's work a server defers (filamentdb writes the upload's packs and the uploader's sync state once it is
    # idle) is the upload's cost, not the deltas': the deltas start once the server is idle, for either server.
    settled = settle(a.server_pid)
    if settled:
        fig["settle_s"], fig["settle_cpu_ms"] = settled
        log("  the server then worked %.1f s more on its own (CPU %.0f ms) before it was idle" % settled)
    rng = random.Random(7)
    weights = {}
    lat, returned, cpu = [], 0, None
    for r in range(a.deltas + 10):
        if r == 10:
            cpu = cpu_ms(a.server_pid)
        changes, now = [], up.now()
        for i in rng.sample(range(a.server_spools), a.delta_changes):
            w = max(0.0, round(weights.get(i, initial_weight(i)) - rng.randint(1, 500) / 100, 2))
            weights[i] = w
            changes.append(spool(i, weight=w, last_updated=now))
        t = time.perf_counter()
        ans = must(*up.sync(changes), "delta sync")
        took_back(ans, lambda i: i in weights, weights, {})
        if r >= 10:
            lat.append(time.perf_counter() - t)
            returned += len(ans["changes"])
    fig["delta_p50_ms"], fig["delta_p99_ms"] = ms(percentile(lat, 50)), ms(percentile(lat, 99))
    log("delta syncs of %d changes against %d spools: p50 %.2f ms, p99 %.2f ms (%d requests; %d spools came back)"
        % (a.delta_changes, a.server_spools, fig["delta_p50_ms"], fig["delta_p99_ms"], a.deltas, returned))
    if cpu is not None:
        fig["delta_cpu_ms"] = (cpu_ms(a.server_pid) - cpu) / a.deltas
        log("  the server's CPU per delta request: %.2f ms" % fig["delta_cpu_ms"])
    up.conn.close()

    # Sustained: one process per device.
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(a.devices), ctx.Queue()
    procs = [ctx.Process(target=sustained_worker, args=(a.url, a.key, k, a.devices, a.seconds, a.server_spools,
                                                        up.cursor, up.last_sync, weights, barrier, out))
             for k in range(a.devices)]
    for p in procs:
        p.start()
    results = dict(out.get() for _ in procs)
    for p in procs:
        p.join()
    res = [results[k] for k in range(a.devices)]
    count = sum(r["count"] for r in res)
    window = max(r["end"] for r in res) - min(r["start"] for r in res)
    all_lat = [x for r in res for x in r["latencies"]]
    fig["sustained_per_s"] = count / window if window > 0 else 0.0
    fig["sustained_syncs"] = count
    fig["sustained_errors"] = sum(r["errors"] for r in res)
    fig["sustained_p50_ms"] = ms(percentile(all_lat, 50)) if all_lat else None
    fig["sustained_p99_ms"] = ms(percentile(all_lat, 99)) if all_lat else None
    fig["sustained_client_cores"] = sum(r.get("cpu", 0.0) for r in res) / window if window > 0 else 0.0
    log("sustained, %d devices (processes) for %.1f s: %d syncs, %.0f syncs/s, %d errors; latency p50 %.2f ms, "
        "p99 %.2f ms; each device received %.1f spools per sync from the others; the clients used %.2f of %d cores"
        % (a.devices, window, count, fig["sustained_per_s"], fig["sustained_errors"], fig["sustained_p50_ms"] or 0,
           fig["sustained_p99_ms"] or 0, sum(r["received"] for r in res) / max(1, count),
           fig["sustained_client_cores"], os.cpu_count()))
    for k, r in enumerate(res):
        for e in r["error_samples"]:
            log("  error: " + e)
        if (r.get("warmup_changes") or 0) > 100:
            log("  note: device %d's first request (with the delta device's cursor) got %d spools back"
                % (k, r["warmup_changes"]))

    if a.expect:
        acked = {serial(i): w for i, w in weights.items()}
        for r in res:
            acked.update(r["acked"])
        with open(a.expect, "w") as f:
            json.dump({"totalSpools": a.server_spools, "weightRemaining": acked}, f)
        log("expected state of %d changed spools written to %s" % (len(acked), a.expect))

    if a.json:
        print(json.dumps(fig))
        return
    log("")
    log("%-44s %s" % ("figure", "value"))
    rows = [("floor: one durable commit (median of %d)" % a.floor_runs, "%.3f ms" % fig["floor_commit_ms"]),
            ("first sync, %d spools (download)" % a.spools, "%.1f ms" % fig["first_sync_ms"]),
            ("first upload, %d spools" % a.spools, "%.1f ms" % fig["first_upload_ms"]),
            ("delta sync p50, 10 changes, %d spools" % a.server_spools, "%.2f ms" % fig["delta_p50_ms"]),
            ("delta sync p99", "%.2f ms" % fig["delta_p99_ms"]),
            ("sustained, %d devices" % a.devices, "%.0f syncs/s, %d errors" % (fig["sustained_per_s"],
                                                                             fig["sustained_errors"]))]
    for name, value in rows:
        log("%-44s %s" % (name, value))


def verify(a):
    """Reads the whole inventory (paged) as a new device and checks every acknowledged change is in it."""
    with open(a.expect) as f:
        exp = json.load(f)
    dev = Device(a.url, a.key, "bench-verify-%d" % os.getpid())
    inventory = {}
    while True:
        ans = must(*dev.sync([], limit=20000), "verify sync")
        for s in ans["changes"]:
            inventory[s["serial"]] = s
        if not ans.get("hasMore"):
            break
    wrong = [s for s, w in exp["weightRemaining"].items()
             if s not in inventory or inventory[s].get("weightRemaining") != w]
    if len(inventory) != exp["totalSpools"] or wrong:
        print("verify: %d spools (expected %d); %d of %d acknowledged changes missing, e.g. %s"
              % (len(inventory), exp["totalSpools"], len(wrong), len(exp["weightRemaining"]), wrong[:3]))
        sys.exit(1)
    print("verify: all %d acknowledged changes are in the %d-spool inventory after the restart"
          % (len(exp["weightRemaining"]), len(inventory)))


def main():
    argv = sys.argv[1:]
    mode = "run"
    if argv[:1] == ["verify"]:
        mode, argv = "verify", argv[1:]
    p = argparse.ArgumentParser(description="drives a sync server and measures it (see the module docstring)")
    p.add_argument("--url", required=True)
    p.add_argument("--key", default=os.environ.get("SYNC_API_KEY"))
    p.add_argument("--expect", help="write (run) or read (verify) the acknowledged state")
    p.add_argument("--floor-dir", default=tempfile.gettempdir(),
                   help="where to measure the floor: the file system holding the server's data")
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 spools, 20 deltas, 2 s sustained")
    p.add_argument("--json", action="store_true", help="the figures as JSON on stdout, the report on stderr")
    p.add_argument("--spools", type=int, default=10_000)
    p.add_argument("--server-spools", type=int, default=100_000)
    p.add_argument("--first-runs", type=int, default=5)
    p.add_argument("--deltas", type=int, default=200)
    p.add_argument("--delta-changes", type=int, default=10)
    p.add_argument("--devices", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=5_000)
    p.add_argument("--floor-runs", type=int, default=200)
    p.add_argument("--server-pid", type=int, help="the server's process, to read its CPU time from /proc")
    a = p.parse_args(argv)
    if not a.key:
        sys.exit("drive.py: pass --key or set SYNC_API_KEY")
    if mode == "verify":
        if not a.expect:
            sys.exit("drive.py verify: --expect FILE is required")
        return verify(a)
    if a.quick:
        a.spools, a.server_spools, a.first_runs, a.deltas, a.seconds, a.floor_runs = 2_000, 2_000, 3, 20, 2.0, 50
    a.server_spools = max(a.server_spools, a.spools)
    run(a)


if __name__ == "__main__":
    main()

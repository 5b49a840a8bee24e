"""The baseline the sync benchmark compares `filamentdb serve` with: a plain Python server of the same protocol
(POST /api/sync, GET /api/sync, GET /health), standard library only.

One threading.Lock around every request's apply; an append-only JSON-lines log, fsynced before each answer that
changed something; the inventory in memory (serial -> newest entry) with a per-entry arrival sequence, so "what
changed since your cursor" is by server arrival and reads only the entries after the cursor (a list in arrival
order and bisect), never the whole inventory. Last-write-wins by `lastUpdated`, whole records; no git, no
field-level merge, no conflict records, no per-device ids, no clock-skew correction. The cursor is the
sequence number as a string. The log is replayed at start.

usage: baseline_server.py [--host 127.0.0.1] [--port 0] [--data-dir DIR] [--api-key KEY]
       (the key defaults to the SYNC_API_KEY environment variable; --port 0 picks a free port and prints it)
"""
import argparse
import bisect
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Store:
    """The inventory and its log. Every method is called with `lock` held, except `replay` (at start)."""

    def __init__(self, data_dir):
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, "sync-log.jsonl")
        self.lock = threading.Lock()
        self.seq = 0                # the last arrival sequence number given out
        self.server_time = 0        # the last serverTime answered, strictly increasing
        self.current = {}           # serial -> (seq, lastUpdated, deleted, encoded spool JSON)
        self.order_seq = []         # arrival sequence of every entry ever accepted, ascending
        self.order_time = []        # the serverTime of each of those entries (for clients without a cursor)
        self.order_serial = []      # the serial of each of those entries
        self.live = 0               # spools not deleted
        self.replay()
        existed = os.path.exists(self.path)
        self.log = open(self.path, "ab", buffering=0)
        if not existed:             # a new file: make its directory entry durable too
            os.fsync(self.log.fileno())
            dir_fd = os.open(data_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def replay(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break           # a torn last line (a crash mid-write): it was never acknowledged
                e = json.loads(line)
                spool = e.get("spool")
                self._put(e["seq"], e["time"], e["serial"], e["lastUpdated"], e["deleted"],
                          _dumps(spool) if spool is not None else None)
                self.server_time = max(self.server_time, e["time"])

    def _put(self, seq, at, serial, last_updated, deleted, encoded):
        old = self.current.get(serial)
        self.live += (0 if deleted else 1) - (0 if old is None or old[2] else 1)
        self.current[serial] = (seq, last_updated, deleted, encoded)
        self.order_seq.append(seq)
        self.order_time.append(at)
        self.order_serial.append(serial)
        self.seq = max(self.seq, seq)

    def next_time(self):
        self.server_time = max(int(time.time() * 1000), self.server_time + 1)
        return self.server_time

    def apply(self, changes, deletions, now):
        """Applies one request's entries (last-write-wins by lastUpdated, ties to the arrival) and makes them
        durable before returning. Returns the number accepted, the serials this request wrote, and the serials
        whose newer server copy overruled the request (sent back to the device)."""
        lines = []
        written, overruled = set(), set()

        def accept(serial, last_updated, deleted, spool):
            self.seq += 1
            encoded = _dumps(spool) if spool is not None else None
            self._put(self.seq, now, serial, last_updated, deleted, encoded)
            entry = _dumps({"seq": self.seq, "time": now, "serial": serial, "lastUpdated": last_updated,
                            "deleted": deleted})
            lines.append(entry if deleted else entry[:-1] + ',"spool":' + encoded + "}")
            written.add(serial)

        for spool in changes:
            serial, lu = spool["serial"], spool["lastUpdated"]
            old = self.current.get(serial)
            if old is not None and old[1] > lu:
                overruled.add(serial)   # the server's copy is newer
                continue
            deleted = spool.get("deleted") is True
            accept(serial, lu, deleted, None if deleted else spool)
        for d in deletions:
            if isinstance(d, dict):
                serial, at = d["serial"], d.get("deletedAt", now)
            else:
                serial, at = d, now
            old = self.current.get(serial)
            if old is None or old[2]:
                continue
            if old[1] > at:
                overruled.add(serial)
                continue
            accept(serial, at, True, None)
        if lines:
            self.log.write(("\n".join(lines) + "\n").encode())
            os.fsync(self.log.fileno())
        return len(lines), written, overruled - written

    def since(self, seq, written, upto, overruled):
        """Encoded spools and deleted serials accepted after `seq` (up to `upto`), newest state only, leaving out
        what this request itself wrote; plus the current state of the serials in `overruled`."""
        changes, deletions = [], []
        for serial in overruled:
            s, _, deleted, encoded = self.current[serial]
            if s > seq:
                continue            # the walk below sends it
            if deleted:
                deletions.append(serial)
            else:
                changes.append(encoded)
        start = bisect.bisect_right(self.order_seq, seq)
        end = bisect.bisect_right(self.order_seq, upto)
        cur = self.current
        for i in range(start, end):
            serial = self.order_serial[i]
            s, _, deleted, encoded = cur[serial]
            if s != self.order_seq[i] or serial in written:
                continue            # superseded later, or sent by this device now
            if deleted:
                deletions.append(serial)
            else:
                changes.append(encoded)
        return changes, deletions

    def seq_at_time(self, t):
        """The sequence number of the last entry that arrived at or before server time `t`."""
        i = bisect.bisect_right(self.order_time, t)
        return self.order_seq[i - 1] if i else 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive
    disable_nagle_algorithm = True     # TCP_NODELAY on every accepted connection
    server_version = "baseline-sync/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj=None, body=None):
        if body is None:
            body = _dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.answer(status, {"success": False, "error": message, "details": []})

    def bearer_ok(self):
        h = self.headers.get("Authorization")
        return None if h is None else h == "Bearer " + self.server.api_key

    def do_OPTIONS(self):
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "content-type, authorization")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, {"status": "ok"})
        if self.path != "/api/sync":
            return self.error(404, "not found")
        if self.bearer_ok() is not True:
            return self.error(401, "missing or wrong API key")
        store = self.server.store
        with store.lock:
            self.answer(200, {"success": True, "totalSpools": store.live, "lastModified": store.server_time,
                              "head": str(store.seq)})

    def do_POST(self):
        if self.path != "/api/sync":
            return self.error(404, "not found")
        length = int(self.headers.get("Content-Length") or 0)
        if length > 32 << 20:
            self.close_connection = True
            return self.error(413, "request too large: upload in batches")
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw)
        except ValueError:
            req = None
        bearer = self.bearer_ok()
        body_key = req.get("apiKey") if isinstance(req, dict) else None
        if bearer is False or (body_key is not None and body_key != self.server.api_key) or \
                (bearer is None and body_key is None):
            return self.error(401, "missing or wrong API key")
        problem = check(req)
        if problem:
            return self.error(400, problem)
        store = self.server.store
        with store.lock:
            cursor = req.get("cursor")
            if isinstance(cursor, str) and cursor.isdigit():
                after = int(cursor)
            elif req["lastSyncTime"] <= 0:
                after = 0
            else:
                after = store.seq_at_time(req["lastSyncTime"])
            before = store.seq
            now = store.next_time()
            synced, written, overruled = store.apply(req["changes"], req["deletions"], now)
            changes, deletions = store.since(after, written, before, overruled)
            head = {"success": True, "serverTime": now, "cursor": str(store.seq),
                    "stats": {"totalSpools": store.live, "synced": synced, "conflictsResolved": 0},
                    "deletions": deletions, "conflicts": [], "hasMore": False}
        # The spools were encoded once, on arrival: the answer splices them in.
        body = (_dumps(head)[:-1] + ',"changes":[' + ",".join(changes) + "]}").encode()
        self.answer(200, body=body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def check(req):
    if not isinstance(req, dict):
        return "the body must be a JSON object"
    if not isinstance(req.get("deviceId"), str) or not req["deviceId"]:
        return "deviceId must be a non-empty string"
    if not isinstance(req.get("lastSyncTime"), int):
        return "lastSyncTime must be an integer (0 on first sync)"
    if not isinstance(req.get("changes"), list) or not isinstance(req.get("deletions"), list):
        return "changes and deletions must be arrays"
    for s in req["changes"]:
        if not isinstance(s, dict) or not isinstance(s.get("serial"), str) or not s["serial"] \
                or not isinstance(s.get("lastUpdated"), (int, float)):
            return "every change needs a non-empty serial and a lastUpdated"
    for d in req["deletions"]:
        if isinstance(d, dict) and (not isinstance(d.get("serial"), str)
                                    or not isinstance(d.get("deletedAt", 0), (int, float))):
            return "a deletion object needs a serial (and deletedAt, if any, in ms)"
        if not isinstance(d, (str, int, dict)):
            return "a deletion is a serial, an id or {serial, deletedAt}"
    req["deletions"] = [d for d in req["deletions"] if not isinstance(d, int)]   # legacy ids: nothing to match
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--data-dir", default="baseline-sync-data")
    p.add_argument("--api-key", default=os.environ.get("SYNC_API_KEY"))
    a = p.parse_args()
    if not a.api_key:
        sys.exit("baseline_server.py: set SYNC_API_KEY or pass --api-key")
    server = Server((a.host, a.port), Handler)
    server.api_key = a.api_key
    server.store = Store(a.data_dir)
    host, port = server.server_address[:2]
    print("baseline_server.py: listening on http://%s:%d (log: %s, %d spools)"
          % (host, port, server.store.path, server.store.live), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

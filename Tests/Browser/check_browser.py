#!/usr/bin/env python3
"""The web app's sync client, run in headless Chromium against `filamentdb serve` (a test helper, not the product).

webapp.html is the web app's SyncManager as SYNC-PROTOCOL.md describes it, over the browser's own IndexedDB and
fetch. It is served from http://localhost:<port> and the server listens on http://127.0.0.1:<other port>: every
sync is a cross-origin request the browser preflights, and the page reads an answer only if the server's CORS
headers allow it, as a hosted build of the web app would. Two devices are two Chromium processes, each with a
profile of its own; the harness hands each page its steps and reads what each did.

    check_browser.py --filamentdb .build/debug/filamentdb [--chromium PATH]

Exit 0: every check held; 1: a check failed (each is printed); 77: no Chromium here (the check is skipped).
"""
import argparse, http.server, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "browser-check-0123456789abcdef0123456789"
failures = []


def check(condition, what, detail=None):
    print(("ok   " if condition else "FAIL ") + what + ("" if condition or detail is None else f": {detail}"), flush=True)
    if not condition:
        failures.append(what)


class Pages(http.server.ThreadingHTTPServer):
    """The page, and each device's steps and results: /next answers a device's page with its next step (held until
    there is one), /result takes what the step did."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.lock = threading.Condition()
        self.steps = {}    # device -> the step its page is to run next (None: no more)
        self.results = {}  # device -> what its last step reported


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/webapp.html":
            with open(os.path.join(HERE, "webapp.html"), "rb") as f:
                return self.answer(200, "text/html; charset=utf-8", f.read())
        if url.path != "/next":
            return self.send_error(404)
        device = urllib.parse.parse_qs(url.query)["device"][0]
        with self.server.lock:
            self.server.lock.wait_for(lambda: device in self.server.steps)
            step = self.server.steps.pop(device)
        self.answer(200, "application/json", json.dumps({"done": True} if step is None else {"actions": step}).encode())

    def do_POST(self):
        device = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["device"][0]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.answer(204, None, b"")
        with self.server.lock:
            self.server.results[device] = json.loads(body)
            self.server.lock.notify_all()

    def answer(self, status, kind, body):
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a browser closed at the end, while its page asked for a next step

    def log_message(self, *args):
        pass


class Browsers:
    """One headless Chromium per device, each with a profile of its own, kept open across the device's steps."""

    def __init__(self, chromium, work, pages, server):
        self.chromium, self.work, self.pages, self.server = chromium, work, pages, server
        self.open = {}
        self.lastSyncTime = {}

    def step(self, device, actions, key=KEY):
        """Runs `actions` in `device`'s page; returns what it reported."""
        if device not in self.open:
            query = urllib.parse.urlencode({"server": self.server, "key": key, "device": device})
            url = f"http://localhost:{self.pages.server_address[1]}/webapp.html?{query}"
            log = open(os.path.join(self.work, f"chromium-{device}.log"), "wb")
            self.open[device] = subprocess.Popen(
                [self.chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--password-store=basic",
                 f"--user-data-dir={os.path.join(self.work, 'profile-' + device)}", url],
                stdout=log, stderr=log, start_new_session=True)
        with self.pages.lock:
            self.pages.results.pop(device, None)
            self.pages.steps[device] = actions
            self.pages.lock.notify_all()
            if not self.pages.lock.wait_for(lambda: device in self.pages.results, timeout=90):
                raise SystemExit(f"{device}: its page reported nothing in 90 s (see {self.work}/chromium-{device}.log)")
            result = self.pages.results.pop(device)
        if "failure" in result:
            raise SystemExit(f"{device}: the page failed: {result['failure']}")
        if result["startedWith"] != self.lastSyncTime.get(device, 0):
            raise SystemExit(f"{device}: the page lost its lastSyncTime ({result['startedWith']}, not {self.lastSyncTime.get(device, 0)})")
        self.lastSyncTime[device] = result["lastSyncTime"]
        return result

    def close(self):
        with self.pages.lock:
            for device in self.open:
                self.pages.steps[device] = None
            self.pages.lock.notify_all()
        for p in self.open.values():
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def rows_by_serial(result):
    return {r["serial"]: r for r in result["rows"]}


def server_inventory(server):
    """What a new device gets: every spool main holds, by serial (a cursor-less sync of a device of the checker's)."""
    body = json.dumps({"deviceId": "checker", "lastSyncTime": 0, "changes": [], "deletions": []}).encode()
    req = urllib.request.Request(server + "/api/sync", data=body, headers={"Content-Type": "application/json", "Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(req, timeout=30) as r:
        return {s["serial"]: s for s in json.load(r)["changes"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--filamentdb", required=True)
    parser.add_argument("--chromium")
    args = parser.parse_args()
    chromium = args.chromium or next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        print("skipped: no Chromium here (apt-get install chromium): the web app's client was not run in a browser")
        return 77

    work = tempfile.mkdtemp(prefix="filamentdb-browser-")
    server_log = open(os.path.join(work, "serve.log"), "w+")
    serve = subprocess.Popen([args.filamentdb, "serve", "--port", "0", "--data-dir", os.path.join(work, "data")],
                             env={**os.environ, "SYNC_API_KEY": KEY}, stdout=server_log, stderr=subprocess.STDOUT)
    pages = Pages()
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    try:
        deadline = time.time() + 60
        while True:
            server_log.seek(0)
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", server_log.read())
            if found:
                break
            if serve.poll() is not None or time.time() > deadline:
                server_log.seek(0)
                raise SystemExit("filamentdb serve did not start:\n" + server_log.read())
            time.sleep(0.05)
        server = found.group(1)
        browsers = Browsers(chromium, work, pages, server)
        try:
            run(browsers, server)
        finally:
            browsers.close()
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        pages.shutdown()
    server_log.seek(0)
    log = server_log.read()
    check(KEY not in log, "the server's log never holds the key")
    if failures:
        print(f"{len(failures)} check(s) failed; the browsers' and the server's logs are in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("every check held")
    return 0


def run(b, server):
    # a: three spools, then its first sync.
    a1 = b.step("browser-a", [
        {"op": "add", "serial": "S1", "fields": {"brand": "Prusament", "material": "PLA", "weightRemaining": 1000, "color": "red"}},
        {"op": "add", "serial": "S2", "fields": {"brand": "Polymaker", "material": "PETG", "weightRemaining": 750}},
        {"op": "add", "serial": "S3", "fields": {"brand": "Sunlu", "material": "PLA", "weightRemaining": 500}},
        {"op": "sync"},
    ])
    print("browser:", a1["userAgent"])
    s = a1["log"][0]
    check(s.get("status") == 200, "a's first sync, a cross-origin POST with its preflight, is read by the page", s)
    check(s.get("data", {}).get("success") is True and s["data"].get("changes") == [] and s["data"].get("deletions") == [],
          "a's answer has success, and both arrays, empty", s.get("data"))
    check(sorted(server_inventory(server)) == ["S1", "S2", "S3"], "the server holds a's three spools")
    a_ids = {k: v["id"] for k, v in rows_by_serial(a1).items()}

    # b: a spool of its own (its first id is 1, as a's was), then its first sync: a's spools come without ids.
    b1 = b.step("browser-b", [
        {"op": "add", "serial": "S4", "fields": {"brand": "eSun", "material": "ABS", "weightRemaining": 900}},
        {"op": "sync"},
    ])
    s = b1["log"][0]
    check(s.get("status") == 200 and sorted(c["serial"] for c in s["data"]["changes"]) == ["S1", "S2", "S3"],
          "b's first sync brings a's three spools", s)
    check(all("id" not in c for c in s["data"]["changes"]), "they come without an id (never another device's)", s["data"]["changes"])
    rows = rows_by_serial(b1)
    check(sorted(rows) == ["S1", "S2", "S3", "S4"] and len({r["id"] for r in rows.values()}) == 4,
          "b holds four rows under ids of its own", b1["rows"])
    check(rows["S4"]["id"] == a_ids["S1"], "b's own spool has the id a's S1 has at a (the ids collide, the serials do not)")

    # b edits S1; a gets the edit under its own id.
    b2 = b.step("browser-b", [{"op": "wait", "ms": 20}, {"op": "edit", "serial": "S1", "fields": {"weightRemaining": 640}}, {"op": "sync"}])
    check(b2["log"][0].get("status") == 200, "b's edit syncs", b2["log"][0])
    a2 = b.step("browser-a", [{"op": "sync"}])
    s = a2["log"][0]
    got = {c["serial"]: c for c in s.get("data", {}).get("changes", [])}
    check(got.get("S1", {}).get("id") == a_ids["S1"] and "id" not in got.get("S4", {"id": 0}),
          "a gets S1 under its own id, and b's S4 without one", s.get("data"))
    rows = rows_by_serial(a2)
    check(rows["S1"]["weightRemaining"] == 640 and rows["S1"]["id"] == a_ids["S1"], "a's S1 row now weighs 640", rows.get("S1"))
    check(sorted(rows) == ["S1", "S2", "S3", "S4"], "a holds b's S4 too", sorted(rows))

    # Both edit S2, other fields: the merge goes back to b, the later sender, under b's id and later than b sent it.
    a3 = b.step("browser-a", [{"op": "wait", "ms": 20}, {"op": "edit", "serial": "S2", "fields": {"color": "galaxy black"}}, {"op": "sync"}])
    check(a3["log"][0].get("status") == 200, "a's edit of S2's color syncs", a3["log"][0])
    # b's browser was killed before it wrote its lastSyncTime: it sends every row, with lastSyncTime 0.
    b3 = b.step("browser-b", [{"op": "wait", "ms": 20}, {"op": "forget"}, {"op": "edit", "serial": "S2", "fields": {"weightRemaining": 300}}, {"op": "sync"}])
    s = b3["log"][0]
    check(s["sent"]["lastSyncTime"] == 0 and len(s["sent"]["changes"]) == 4 and s.get("data", {}).get("conflicts") == [],
          "b, having lost its lastSyncTime, sends every row and is merged against what it had: no conflict", s.get("data", {}).get("conflicts"))
    sent = next(c for c in s["sent"]["changes"] if c["serial"] == "S2")
    back = next((c for c in s.get("data", {}).get("changes", []) if c["serial"] == "S2"), None)
    check(back is not None and back.get("id") == sent["id"] and back["lastUpdated"] >= sent["lastUpdated"] + 1,
          "S2, merged, goes back to b under b's id, later than b sent it", (sent, back))
    rows = rows_by_serial(b3)
    check(rows["S2"].get("color") == "galaxy black" and rows["S2"]["weightRemaining"] == 300, "b's S2 row holds both edits", rows["S2"])
    a4 = b.step("browser-a", [{"op": "sync"}])
    rows = rows_by_serial(a4)
    check(rows["S2"].get("color") == "galaxy black" and rows["S2"]["weightRemaining"] == 300 and rows["S2"]["id"] == a_ids["S2"],
          "a's S2 row holds both edits too", rows["S2"])

    # a deletes S3: its Dexie id travels; the server deletes the serial; b is told the serial.
    a5 = b.step("browser-a", [{"op": "wait", "ms": 20}, {"op": "delete", "serial": "S3"}, {"op": "sync"}])
    s = a5["log"][0]
    check(s.get("status") == 200 and s["sent"]["deletions"] == [a_ids["S3"]], "a's deletion is sent as its Dexie id", s)
    check("S3" not in rows_by_serial(a5), "a's soft-deleted row goes once synced")
    check(sorted(server_inventory(server)) == ["S1", "S2", "S4"], "the server no longer holds S3")
    b4 = b.step("browser-b", [{"op": "sync"}])
    s = b4["log"][0]
    check(s.get("status") == 200 and s["data"]["deletions"] == ["S3"] and s["received"] == 1,
          "b is told S3 went (a serial: the web app deletes only by id, a limit of the client)", s.get("data"))

    # Refusals the page can read (the CORS header is on them too), not "Failed to fetch"; nothing applied.
    before = server_inventory(server)
    a6 = b.step("browser-a", [
        {"op": "edit", "serial": "S1", "fields": {"weightRemaining": 1}},
        {"op": "sync", "key": "not-the-key-not-the-key"},
        {"op": "post", "body": "{\"apiKey\": \"" + KEY + "\", \"deviceId\": "},
        {"op": "post", "body": "{\"deviceId\": ", "key": KEY},
        {"op": "post", "body": json.dumps({"apiKey": KEY, "deviceId": "browser-a", "changes": [{"serial": "../../x"}], "deletions": []})},
    ])
    wrong, unread, broken, bad = a6["log"]
    check(wrong.get("status") == 401 and wrong.get("data", {}).get("success") is False, "a wrong key is a 401 the page reads", wrong)
    check(unread.get("status") == 401, "a body that is not JSON holds no key it can be read by: a 401 the page reads", unread)
    check(broken.get("status") == 400 and broken.get("data", {}).get("success") is False, "the same with the key as a bearer header: a 400 the page reads", broken)
    check(bad.get("status") == 400 and "details" in (bad.get("data") or {}), "a spool without lastUpdated is a 400 with details the page reads", bad)
    check(server_inventory(server) == before, "nothing of the refused requests was applied")
    # The edit left behind still goes with the next good sync.
    a7 = b.step("browser-a", [{"op": "sync"}])
    check(a7["log"][0].get("status") == 200 and server_inventory(server)["S1"]["weightRemaining"] == 1,
          "the edit a wrong key held back goes with the next sync", a7["log"][0])

    # Both browsers and the server agree.
    inventory = server_inventory(server)
    b5 = b.step("browser-b", [{"op": "sync"}])
    for name, result in (("a", a7), ("b", b5)):
        local = {k: {f: v for f, v in r.items() if f not in ("id", "lastUpdated")} for k, r in rows_by_serial(result).items()}
        remote = {k: {f: v for f, v in r.items() if f not in ("id", "lastUpdated")} for k, r in inventory.items()}
        if name == "b":
            # b keeps S3: the web app deletes only by id, and the server told it the serial.
            local.pop("S3", None)
        check(local == remote and len(result["rows"]) == len(rows_by_serial(result)),
              f"browser {name} holds what the server holds, one row per spool", (local, remote, result["rows"]))


if __name__ == "__main__":
    sys.exit(main())

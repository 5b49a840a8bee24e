#!/usr/bin/env python3
"""Splits a sync server's time per request into its fixed part and its part per spool: against a server that starts
empty (seeded here with --spools spools by one device), a second device with a cursor sends requests of 0, 1 and 10
changed spools, and GET /health for comparison; each figure is the median of --requests requests, the lower of two
rounds. Standard library only; uses drive.py's client.

  SYNC_API_KEY=k python3 Benchmarks/sync/split.py --url http://127.0.0.1:PORT [--spools 20000] [--requests 400]

Prints: health=<ms> 0=<ms> 1=<ms> 10=<ms>. (1 - 0) is what the first changed spool adds, (10 - 1) / 9 each spool
after it; 0 is a poll, which changes nothing."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drive import Device, spool, must  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--key", default=os.environ.get("SYNC_API_KEY"))
    p.add_argument("--spools", type=int, default=20_000)
    p.add_argument("--requests", type=int, default=400)
    a = p.parse_args()
    if not a.key:
        sys.exit("split.py: pass --key or set SYNC_API_KEY")
    seed = Device(a.url, a.key, "split-seed")
    for start in range(0, a.spools, 5000):
        must(*seed.sync([spool(i) for i in range(start, min(a.spools, start + 5000))]), "seed")
    d = Device(a.url, a.key, "split-device")
    while must(*d.sync([], limit=20000), "first sync").get("hasMore"):
        pass
    count = [0]

    def changes(n):
        def one(_):
            count[0] += 1
            k = count[0]
            must(*d.sync([spool((k * 37 + j * 101) % a.spools, weight=100 + k % 500, last_updated=d.now()) for j in range(n)]), "sync")
        return one

    def health(_):
        if d.conn is None:
            d.connect()
        d.conn.request("GET", "/health")
        d.conn.getresponse().read()

    def median_ms(f):
        times = []
        for i in range(a.requests):
            t = time.perf_counter()
            f(i)
            times.append(time.perf_counter() - t)
        times.sort()
        return times[len(times) // 2] * 1e3

    figures = {}
    for _ in range(2):
        for name, f in [("health", health), ("0", changes(0)), ("1", changes(1)), ("10", changes(10))]:
            figures.setdefault(name, []).append(median_ms(f))
    print(" ".join("%s=%.3f" % (k, min(v)) for k, v in figures.items()))


if __name__ == "__main__":
    main()

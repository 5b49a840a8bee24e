"""The baseline the conversion benchmark compares filamentdb with: Python's standard json, csv and sqlite3
modules doing the same parse and write, with no checking, migration or identity rules.

usage: baseline.py dexie-to-csv|csv-to-sqlite|sqlite-to-dexie IN OUT
"""
import csv
import json
import sqlite3
import sys


def dexie_to_csv(src, dst):
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    rows = next(t["rows"] for t in doc["data"]["data"] if t["tableName"] == "spools")
    keys = sorted({k for r in rows for k in r})
    with open(dst, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in rows:
            w.writerow(["" if r.get(k) is None else
                        json.dumps(r[k], separators=(",", ":")) if isinstance(r[k], (list, dict)) else r[k]
                        for k in keys])


def csv_to_sqlite(src, dst):
    with open(src, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        db = sqlite3.connect(dst)
        db.execute("CREATE TABLE spools (%s)" % ", ".join('"%s"' % h for h in header))
        db.execute("CREATE INDEX spools_lastUpdated ON spools (lastUpdated)")

        def typed(cell):
            if cell == "":
                return None
            try:
                return int(cell)
            except ValueError:
                try:
                    return float(cell)
                except ValueError:
                    return cell
        db.executemany("INSERT INTO spools VALUES (%s)" % ", ".join("?" * len(header)),
                       ([typed(c) for c in row] for row in reader))
        db.commit()
        db.close()


def sqlite_to_dexie(src, dst):
    db = sqlite3.connect(src)
    cur = db.execute("SELECT * FROM spools")
    names = [d[0] for d in cur.description]
    rows = []
    for values in cur:
        row = {}
        for k, v in zip(names, values):
            if v is None:
                continue
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            row[k] = v
        rows.append(row)
    doc = {"formatName": "dexie", "formatVersion": 1, "data": {
        "databaseName": "FilamentDB", "databaseVersion": 3,
        "tables": [{"name": "spools", "schema": "++id,serial,brand,type,color,lastScanned,lastUpdated", "rowCount": len(rows)}],
        "data": [{"tableName": "spools", "inbound": True, "rows": rows}]}}
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"), ensure_ascii=False)


if __name__ == "__main__":
    leg, src, dst = sys.argv[1:4]
    {"dexie-to-csv": dexie_to_csv, "csv-to-sqlite": csv_to_sqlite, "sqlite-to-dexie": sqlite_to_dexie}[leg](src, dst)

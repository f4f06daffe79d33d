#!/usr/bin/env python3
"""fs-table.py - the README's filesystem table from the --json of one
`lsmfs-bench fs` / fs-compare.sh run: one row per workload of issue 13
(untar, create in a tree, streaming write, cold read of the tree, rm -rf,
random 4 KiB writes), one column per target, and the ratios lsm/peer
(throughput of lsmfs over the peer's: above 1, lsmfs is faster) beside
each goal.  Usage: fs-table.py RUN.json [--lsm=lsmfs] [--local=local]
[--before=lsmfs_before]"""
import json
import sys

# benchmark -> (label, unit, how to show, goal as a minimum lsm/local)
ROWS = [
    ("untar", "untar the tree", "s", 0.2),
    ("create_tree", "create 1 KiB files in a tree", "files/s", 0.3),
    ("stream_write", "streaming write (1 MiB calls, fsync)", "MiB/s", 0.8),
    ("untar_read", "read the tree back, cold", "s", 1 / 1.2),
    ("rmtree", "rm -rf the tree", "s", 1 / 1.5),
    ("randwrite_4k", "random 4 KiB writes (buffered, fsync)", "IOPS", 0.15),
]


def fmt(r, unit):
    if r is None or r.get("error") or not r.get("ops_per_sec"):
        return "-"
    if unit == "s":
        return "%.2f s" % (r["ops"] / r["ops_per_sec"])
    if unit == "MiB/s":
        return "%.0f MiB/s" % r["mb_per_sec"]
    return "{:,.0f}/s".format(r["ops_per_sec"])


def ratio(a, b):
    if not a or not b or a.get("error") or b.get("error"):
        return None
    if not a.get("ops_per_sec") or not b.get("ops_per_sec"):
        return None
    return a["ops_per_sec"] / b["ops_per_sec"]


def main(argv):
    opts = {"lsm": "lsmfs", "local": "local", "before": "lsmfs_before"}
    path = None
    for a in argv[1:]:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
        else:
            path = a
    if not path:
        print(__doc__, file=sys.stderr)
        return 2
    with open(path) as f:
        res = json.load(f)
    by = {(r["engine"], r["benchmark"]): r for r in res}
    engines = []
    for r in res:
        if r["engine"] not in engines:
            engines.append(r["engine"])
    head = ["workload"] + engines
    have_before = opts["before"] in engines
    if have_before:
        head.append("%s before -> after" % opts["lsm"])
    head += ["%s / %s" % (opts["lsm"], opts["local"]), "goal"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for bench, label, unit, goal in ROWS:
        if not any(b == bench for (_, b) in by):
            continue
        cells = [label]
        for e in engines:
            cells.append(fmt(by.get((e, bench)), unit))
        lsm = by.get((opts["lsm"], bench))
        if have_before:
            x = ratio(lsm, by.get((opts["before"], bench)))
            cells.append("%.2fx" % x if x else "-")
        x = ratio(lsm, by.get((opts["local"], bench)))
        cells.append("%.2fx" % x if x else "-")
        cells.append(">= %.2fx" % goal)
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

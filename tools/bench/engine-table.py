#!/usr/bin/env python3
"""engine-table.py - the README's engine tables from the --json of
lsmfs-bench runs: one row per workload, ops/s per engine with the ratio
lsm/peer (lsm's ops/s over the peer's: above 1, lsm is faster), the goals
of issue 13 against LevelDB and LMDB, and, given --before=RUN.json (the
same command run by a build of an earlier commit, engine lsm only), lsm's
before -> after.  The sync-writers row takes --sync1=RUN.json and
--sync4=RUN.json (fillrandom --sync=1 with 1 and 4 threads; their
before runs with --sync1-before= and --sync4-before=).
Usage: engine-table.py RUN.json [--before=RUN.json] [--sync1=...] ..."""
import json
import sys

ENGINES = [("lsm", "lsm"), ("lsm-mmap", "lsm, mmap_reads"),
           ("leveldb", "LevelDB 1.23"),
           ("leveldb-verify", "LevelDB, verify_checksums"),
           ("rocksdb", "RocksDB 7.8.3"), ("lmdb", "LMDB 0.9.24")]
# Columns of the engine runs only (the sync runs have neither).
ONLY_RUNS = ("lsm-mmap", "leveldb-verify")
# benchmark -> (goal against LevelDB, goal against LMDB), as lsm/peer
GOALS = {"fillseq": (1.5, None), "fillrandom": (1.5, None),
         "overwrite": (1.5, None), "readrandom": (2.0, 0.5),
         "seekrandom": (1.5, None)}


def load(path):
    with open(path) as f:
        return json.load(f)


def index(results):
    out = {}
    for r in results:
        if not r.get("error") and r.get("ops_per_sec"):
            out[(r["benchmark"], r["engine"])] = r["ops_per_sec"]
    return out


def ratio(a, b):
    return a / b if a and b else None


def fx(v):
    return "-" if v is None else "%.2fx" % v


def goal_text(bench, ops):
    g = GOALS.get(bench)
    if not g:
        return "-"
    parts = []
    for want, peer, name in ((g[0], "leveldb", "LevelDB"),
                             (g[1], "lmdb", "LMDB")):
        if want is None:
            continue
        best = max((ratio(ops.get((bench, e)), ops.get((bench, peer)))
                    or 0) for e in ("lsm", "lsm-mmap"))
        plain = ratio(ops.get((bench, "lsm")), ops.get((bench, peer)))
        met = "met" if plain and plain >= want else (
            "met with mmap_reads" if best >= want else "not met")
        parts.append(">= %.1fx %s: %s" % (want, name, met))
    return "; ".join(parts)


def main(argv):
    opts = {}
    args = []
    for a in argv[1:]:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
        else:
            args.append(a)
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    ops = index(load(args[0]))
    before = index(load(opts["before"])) if "before" in opts else {}
    benches = []
    for r in load(args[0]):
        if r["benchmark"] not in benches:
            benches.append(r["benchmark"])
    present = [e for e in ENGINES if any((b, e[0]) in ops for b in benches)]
    head = ["workload"] + [e[1] for e in present]
    if before:
        head.append("lsm before -> after")
    head.append("goal")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for b in benches:
        ref = ops.get((b, "lsm"))
        row = [b]
        for e, _ in present:
            v = ops.get((b, e))
            if v is None:
                row.append("-")
            elif e == "lsm":
                row.append("{:,.0f}".format(v))
            else:
                row.append("{:,.0f} ({})".format(v, fx(ratio(ref, v))))
        if before:
            row.append("{} -> {} ({})".format(
                "{:,.0f}".format(before[(b, "lsm")])
                if (b, "lsm") in before else "-",
                "{:,.0f}".format(ref) if ref else "-",
                fx(ratio(ref, before.get((b, "lsm"))))))
        row.append(goal_text(b, ops))
        print("| " + " | ".join(row) + " |")
    if "sync1" in opts and "sync4" in opts:
        s1, s4 = index(load(opts["sync1"])), index(load(opts["sync4"]))
        print()
        print("| 4 sync writers / 1 sync writer | " +
              " | ".join(e[1] for e in ENGINES if e[0] not in ONLY_RUNS) +
              " | goal |")
        print("|---|" + "---|" * (len(ENGINES) - len(ONLY_RUNS)) + "---|")
        row = ["fillrandom --sync=1, 4 threads over 1"]
        for e, _ in ENGINES:
            if e in ONLY_RUNS:
                continue
            a, c = s4.get(("fillrandom", e)), s1.get(("fillrandom", e))
            cell = fx(ratio(a, c))
            if a and c:
                cell += " ({:,.0f}/s over {:,.0f}/s)".format(a, c)
            if e == "lsm" and "sync1-before" in opts and \
                    "sync4-before" in opts:
                b1 = index(load(opts["sync1-before"]))
                b4 = index(load(opts["sync4-before"]))
                cell += "; before: " + fx(ratio(
                    b4.get(("fillrandom", "lsm")),
                    b1.get(("fillrandom", "lsm"))))
            row.append(cell)
        row.append(">= 3x")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

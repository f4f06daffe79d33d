#!/usr/bin/env python3
"""fs-table.py - the README's filesystem table from the --json of one
`lsmfs-bench fs` / fs-compare.sh run: one row per workload of issue 13
(untar, create in a tree, streaming write, cold read of the tree, rm -rf,
random 4 KiB writes), one column per target, and the ratios lsm/peer
(throughput of lsmfs over the peer's: above 1, lsmfs is faster) beside
each goal.  Usage: fs-table.py RUN.json [--lsm=lsmfs] [--local=local]
[--before=lsmfs_before] [--svg=FILE]: --svg also draws the ratios to the
local filesystem (before and after, log scale) against the goals."""
import json
import math
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


SHORT = {"untar": "untar", "create_tree": "create files",
         "stream_write": "stream write", "untar_read": "cold read",
         "rmtree": "rm -rf", "randwrite_4k": "random 4K writes"}


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


def svg(path, rows):
    """rows: (label, before ratio or None, after ratio, goal)."""
    w, top, h, left, bar = 150, 50, 260, 60, 34
    lo, hi = math.log10(0.01), math.log10(10.0)

    def y(v):
        v = min(max(v, 0.01), 10.0)
        return top + h - (math.log10(v) - lo) / (hi - lo) * h

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (left * 2 + w * len(rows),
                                          top + h + 60),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">lsmfs / local filesystem '
           '(throughput; above 1 lsmfs is faster; log scale), goals in red'
           '</text>' % left,
           '<rect x="%d" y="28" width="12" height="12" fill="#bab0ac"/>'
           '<text x="%d" y="39" font-size="11">before</text>'
           % (left, left + 16),
           '<rect x="%d" y="28" width="12" height="12" fill="#4e79a7"/>'
           '<text x="%d" y="39" font-size="11">after</text>'
           % (left + 80, left + 96)]
    for t in (0.01, 0.1, 1, 10):
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>'
                   % (left, y(t), left + w * len(rows), y(t),
                      "black" if t == 1 else "#dddddd"))
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">'
                   '%gx</text>' % (left - 4, y(t) + 3, t))
    for i, (label, before, after, goal) in enumerate(rows):
        x0 = left + i * w + 30
        for j, (v, col) in enumerate(((before, "#bab0ac"),
                                      (after, "#4e79a7"))):
            if v is None:
                continue
            x = x0 + j * (bar + 4)
            top_y, base_y = sorted((y(v), y(1)))
            out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" '
                       'fill="%s"/>' % (x, top_y, bar, base_y - top_y, col))
            out.append('<text x="%d" y="%.1f" font-size="9" '
                       'text-anchor="middle">%.2f</text>'
                       % (x + bar / 2, y(v) - 3 if v >= 1 else y(v) + 10, v))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="red" '
                   'stroke-width="2"/>' % (x0 - 6, y(goal), x0 + 2 * bar + 10,
                                           y(goal)))
        out.append('<text x="%d" y="%d" font-size="10" text-anchor="middle">'
                   '%s</text>' % (x0 + bar, top + h + 18,
                                  label.replace("&", "&amp;")[:24]))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


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
    plot = []
    for bench, label, unit, goal in ROWS:
        if not any(b == bench for (_, b) in by):
            continue
        cells = [label]
        for e in engines:
            r = by.get((e, bench))
            # reading back or removing a tree untar could not make
            # measures nothing
            u = by.get((e, "untar"))
            if bench in ("untar_read", "rmtree") and u and u.get("error"):
                r = None
            cells.append(fmt(r, unit))
        lsm = by.get((opts["lsm"], bench))
        if have_before:
            x = ratio(lsm, by.get((opts["before"], bench)))
            cells.append("%.2fx" % x if x else "-")
        x = ratio(lsm, by.get((opts["local"], bench)))
        cells.append("%.2fx" % x if x else "-")
        cells.append(">= %.2fx" % goal)
        print("| " + " | ".join(cells) + " |")
        if x:
            plot.append((SHORT.get(bench, bench),
                         ratio(by.get((opts["before"], bench)),
                               by.get((opts["local"], bench))), x, goal))
    if opts.get("svg"):
        svg(opts["svg"], plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

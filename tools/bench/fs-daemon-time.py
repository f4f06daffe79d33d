#!/usr/bin/env python3
"""fs-daemon-time.py - how much of a command's time an lsmfs mount's daemon
spent serving it.

usage: fs-daemon-time.py MOUNTPOINT -- COMMAND [ARG...]

Reads MOUNTPOINT/.lsmfs/stats before and after running COMMAND and prints
its wall time, the FUSE requests it caused (lsmfs_operations_total), the
daemon's time in them (lsmfs_operation_seconds_total: from receiving each
request to sending its reply) and the rest per request: the kernel's, the
transport's and the program's share, which no daemon can remove.  Then one
line per operation: requests and the daemon's mean time for each.

Other activity on the mount during COMMAND is counted too: run it on a
quiet mount.  Exit status: COMMAND's, or 2 on a usage error.
"""
import re
import subprocess
import sys
import time

FAMILY = re.compile(
    r'^(lsmfs_operations_total|lsmfs_operation_seconds_total)'
    r'\{op="(\w+)"\} (\S+)$')


def load(path):
    """{(family, op): value} from a stats file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = FAMILY.match(line.strip())
            if m:
                out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    stats = argv[1].rstrip("/") + "/.lsmfs/stats"
    try:
        before = load(stats)
    except OSError as e:
        sys.stderr.write(f"fs-daemon-time: {stats}: {e.strerror} "
                         "(is MOUNTPOINT an lsmfs mount?)\n")
        return 2
    if not before:
        sys.stderr.write(f"fs-daemon-time: {stats} has no "
                         "lsmfs_operation_seconds_total (an older lsmfs?)\n")
        return 2
    t0 = time.monotonic()
    rc = subprocess.call(argv[3:])
    wall = time.monotonic() - t0
    after = load(stats)

    def delta(family, op):
        return after.get((family, op), 0.0) - before.get((family, op), 0.0)

    ops = sorted({op for (_, op) in after})
    reqs = sum(delta("lsmfs_operations_total", op) for op in ops)
    busy = sum(delta("lsmfs_operation_seconds_total", op) for op in ops)
    rest = (wall - busy) / reqs * 1e6 if reqs else 0.0
    print(f"wall {wall:.3f} s, {reqs:.0f} requests, daemon {busy:.3f} s, "
          f"the rest {wall - busy:.3f} s ({rest:.1f} us a request)")
    for op in ops:
        n = delta("lsmfs_operations_total", op)
        if n > 0:
            t = delta("lsmfs_operation_seconds_total", op)
            print(f"  {op:12s} {n:9.0f} requests {t / n * 1e6:9.2f} us")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""follow-latency.py - how long a write on a read-write lsmfs mount takes to
show on a read-only mount of the same data directory (a follower), end to
end through both kernels' FUSE paths.

    python3 tools/bench/follow-latency.py [--lsmfs build/fs/lsmfs]
        [--writes 300] [--size 100] [--follow-ms 100] [--dir /tmp/...]

Each round writes a new file of SIZE bytes on the writer's mount, then polls
the follower's mount (every 0.5 ms) until the file reads back whole; the
time from the writer's close() to that read is one sample.  Prints p50, p90,
p99 and the maximum, with the follower's catch-up counters.  A benchmark,
not a test: it asserts nothing about speed."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def mount(lsmfs, data, mnt, opts):
    cmd = [lsmfs, data, mnt] + (["-o", opts] if opts else [])
    subprocess.run(cmd, check=True)
    for _ in range(200):
        if mounted(mnt):
            return
        time.sleep(0.05)
    sys.exit("follow-latency: %s did not mount" % mnt)


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lsmfs", default="build/fs/lsmfs")
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--follow-ms", type=int, default=100)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    top = a.dir or tempfile.mkdtemp(prefix="lsmfs-follow-")
    data, w, r = (os.path.join(top, n) for n in ("data", "w", "r"))
    for d in (data, w, r):
        os.makedirs(d, exist_ok=True)
    mount(a.lsmfs, data, w, None)
    try:
        mount(a.lsmfs, data, r, "ro,follow_ms=%d" % a.follow_ms)
        body = b"x" * a.size
        lat = []
        for i in range(a.writes):
            with open(os.path.join(w, "f%d" % i), "wb") as f:
                f.write(body)
            t0 = time.monotonic()
            path = os.path.join(r, "f%d" % i)
            while True:
                try:
                    with open(path, "rb") as f:
                        if f.read() == body:
                            break
                except OSError:
                    pass
                if time.monotonic() - t0 > 10:
                    sys.exit("follow-latency: f%d never showed" % i)
                time.sleep(0.0005)
            lat.append((time.monotonic() - t0) * 1000)
            time.sleep(0.002)
        lat.sort()
        print("follow latency, %d writes of %d bytes, follow_ms=%d: "
              "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms"
              % (len(lat), a.size, a.follow_ms, pct(lat, 0.5),
                 pct(lat, 0.9), pct(lat, 0.99), lat[-1]))
        with open(os.path.join(r, ".lsmfs", "stats")) as f:
            for line in f:
                if line.startswith("lsm_follow"):
                    print("  " + line.strip())
    finally:
        for m in (r, w):
            if mounted(m):
                subprocess.run(["fusermount3", "-u", m])
        time.sleep(0.2)
        if not a.dir:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()

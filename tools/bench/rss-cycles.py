#!/usr/bin/env python3
"""rss-cycles.py - the lsmfs daemon's resident memory over copy/delete
cycles: copies a tree of SIZE MiB onto a mount (cp -r), deletes it (rm -rf),
and after each cycle reads the daemon's VmRSS.

    python3 tools/bench/rss-cycles.py [--lsmfs build/fs/lsmfs] [--cycles 10]
        [--size 500] [--files 200] [--opts OPTS] [--env NAME=VALUE ...]
        [--settle 2] [--dir /tmp/...]

The source tree (FILES files of random bytes, SIZE MiB in all, in a few
directories) is made once on the local disk.  After each cycle the script
waits SETTLE seconds (the daemon's idle work) and prints the RSS, the data
directory's size and the time taken.  At the end: RSS after the last cycle
over RSS after the first (the goal is <= 1.2).  --env runs the daemon with
extra environment (e.g. MALLOC_ARENA_MAX=1, to compare).  A benchmark, not
a test: it asserts nothing."""
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


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(path, n))
               for n in os.listdir(path)
               if n != "RESERVE" and os.path.isfile(os.path.join(path, n)))


def make_tree(src, size_mib, files):
    per = size_mib * 1024 * 1024 // files
    with open("/dev/urandom", "rb") as r:
        for i in range(files):
            d = os.path.join(src, "d%02d" % (i % 8))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "f%04d" % i), "wb") as f:
                f.write(r.read(per))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lsmfs", default="build/fs/lsmfs")
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--opts", default=None)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    top = a.dir or tempfile.mkdtemp(prefix="lsmfs-rss-")
    src, data, mnt = (os.path.join(top, n) for n in ("src", "data", "mnt"))
    for d in (data, mnt):
        os.makedirs(d, exist_ok=True)
    if not os.path.isdir(src):
        os.makedirs(src)
        make_tree(src, a.size, a.files)
    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cmd = [a.lsmfs, data, mnt, "-f"] + (["-o", a.opts] if a.opts else [])
    daemon = subprocess.Popen(cmd, env=env)
    for _ in range(200):
        if mounted(mnt):
            break
        time.sleep(0.05)
    else:
        sys.exit("rss-cycles: %s did not mount" % mnt)
    rss = []
    try:
        print("daemon pid %d, env %s, opts %s, %d MiB x %d cycles" %
              (daemon.pid, " ".join(a.env) or "-", a.opts or "-", a.size,
               a.cycles))
        print("mounted: RSS %.1f MB" % (rss_kib(daemon.pid) / 1024))
        for c in range(a.cycles):
            t0 = time.time()
            subprocess.run(["cp", "-r", src, os.path.join(mnt, "c")],
                           check=True)
            peak = rss_kib(daemon.pid)
            subprocess.run(["rm", "-rf", os.path.join(mnt, "c")],
                           check=True)
            took = time.time() - t0
            time.sleep(a.settle)
            rss.append(rss_kib(daemon.pid))
            print("cycle %2d: RSS %6.1f MB (after copy %6.1f MB), data dir "
                  "%7.1f MB, %.1f s" % (c + 1, rss[-1] / 1024, peak / 1024,
                                        dir_bytes(data) / 1e6, took))
            sys.stdout.flush()
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        daemon.wait()
        if not a.dir:
            shutil.rmtree(top, ignore_errors=True)
    print("RSS after cycle %d / after cycle 1: %.2f (%.1f MB / %.1f MB); "
          "max %.1f MB" % (len(rss), rss[-1] / rss[0], rss[-1] / 1024,
                           rss[0] / 1024, max(rss) / 1024))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""cache-cost.py - what the expiry and capacity bookkeeping costs.

Mounts a fresh store twice per repetition, with the bookkeeping on
(-o default_ttl=..., max_size=..., on_full=evict: every file has an expiry
and an index key, live bytes are counted, the recency clock is kept) and
off (no options), alternating which goes first, and runs
`lsmfs-bench fs --benchmarks=create_1dir,read_1dir,overwrite_1dir` on each.
With --cpu_pid the bench samples the CPU time (user + system, from
/proc) of the daemon and of itself at the start and end of each timed
workload; divided by the operations, that is CPU-seconds per operation.  Reports the median of the repetitions per workload, on vs
off, with ops/s beside it.

usage: cache-cost.py LSMFS LSMFS_BENCH [--num=N] [--reps=N] [--dir=DIR]
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = ["create_1dir", "read_1dir", "overwrite_1dir"]
ON = "default_ttl=86400,max_size=100G,on_full=evict"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of PID (and its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_one(lsmfs, bench, base, opts, num):
    d = tempfile.mkdtemp(dir=base)
    data, mnt = os.path.join(d, "data"), os.path.join(d, "mnt")
    os.mkdir(data)
    os.mkdir(mnt)
    cmd = [lsmfs, data, mnt, "-f", "-o", "log=" + os.path.join(d, "log")]
    if opts:
        cmd += ["-o", opts]
    daemon = subprocess.Popen(cmd)
    try:
        for _ in range(200):
            if os.path.ismount(mnt):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("lsmfs did not mount")
        b = subprocess.run([bench, "fs", "x=" + mnt,
                            "--benchmarks=" + ",".join(WORKLOADS),
                            f"--num={num}", f"--cpu_pid={daemon.pid}"],
                           capture_output=True, text=True)
        if b.returncode != 0:
            raise SystemExit("lsmfs-bench failed: " + b.stderr)
        res = {}
        for line in b.stdout.splitlines():
            w = line.split()
            if w and w[0] in WORKLOADS:
                res[w[0]] = {"ops_s": float(w[2])}
        for line in b.stderr.splitlines():
            w = line.split()
            if len(w) >= 11 and w[0] == "cpu" and w[1] in WORKLOADS:
                res[w[1]]["daemon"] = float(w[6]) / 1e6
                res[w[1]]["client"] = float(w[8]) / 1e6
        return res
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        daemon.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    lsmfs, bench = sys.argv[1], sys.argv[2]
    num, reps, base = 5000, 5, None
    for a in sys.argv[3:]:
        if a.startswith("--num="):
            num = int(a[6:])
        elif a.startswith("--reps="):
            reps = int(a[7:])
        elif a.startswith("--dir="):
            base = a[6:]
        else:
            raise SystemExit(__doc__)
    runs = {"on": [], "off": []}
    for r in range(reps):
        order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
        for cfg in order:
            runs[cfg].append(run_one(lsmfs, bench, base,
                                     ON if cfg == "on" else None, num))
            print(f"rep {r + 1}/{reps} {cfg}: " + ", ".join(
                f"{w} {runs[cfg][-1][w]['ops_s']:.0f} ops/s "
                f"{(runs[cfg][-1][w]['daemon'] + runs[cfg][-1][w]['client']) * 1e6:.1f} us-cpu/op"
                for w in WORKLOADS), flush=True)
    print(f"\n--num={num}, {reps} interleaved repetitions, medians; "
          f"on: -o {ON}")
    print(f"{'workload':16}{'cpu us/op off':>15}{'on':>10}{'on/off':>9}"
          f"{'paired':>8}{'daemon off':>12}{'on':>9}{'on/off':>9}"
          f"{'paired':>8}{'ops/s off':>11}{'on':>9}")
    for w in WORKLOADS:
        def med(cfg, key):
            if key == "cpu":
                return statistics.median(
                    x[w]["daemon"] + x[w]["client"] for x in runs[cfg])
            return statistics.median(x[w][key] for x in runs[cfg])
        c0, c1 = med("off", "cpu") * 1e6, med("on", "cpu") * 1e6
        d0, d1 = med("off", "daemon") * 1e6, med("on", "daemon") * 1e6
        o0, o1 = med("off", "ops_s"), med("on", "ops_s")
        # the median of each repetition's on/off ratio: on and off ran
        # back to back, so drift of the machine between repetitions
        # cancels out of each ratio
        pc = statistics.median(
            (a[w]["daemon"] + a[w]["client"]) /
            (b[w]["daemon"] + b[w]["client"])
            for a, b in zip(runs["on"], runs["off"]))
        pd = statistics.median(a[w]["daemon"] / b[w]["daemon"]
                               for a, b in zip(runs["on"], runs["off"]))
        print(f"{w:16}{c0:15.1f}{c1:10.1f}{c1 / c0:9.3f}{pc:8.3f}"
              f"{d0:12.1f}{d1:9.1f}{d1 / d0:9.3f}{pd:8.3f}"
              f"{o0:11.0f}{o1:9.0f}")


if __name__ == "__main__":
    main()

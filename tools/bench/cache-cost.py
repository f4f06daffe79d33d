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

With --callgrind the daemon runs under valgrind's callgrind, and the
bench's LSMFS_BENCH_HOOK zeroes its counters before and dumps them after
each timed workload: instructions per operation, which do not depend on
what else the machine does (2 shared cores swing CPU times by tens of
percent).

usage: cache-cost.py LSMFS LSMFS_BENCH [--num=N] [--reps=N] [--dir=DIR]
                     [--callgrind] [--on=OPTS]   (OPTS: the -o of "on")
"""
import glob
import re
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


def run_one(lsmfs, bench, base, opts, num, callgrind=False):
    d = tempfile.mkdtemp(dir=base)
    data, mnt = os.path.join(d, "data"), os.path.join(d, "mnt")
    os.mkdir(data)
    os.mkdir(mnt)
    cmd = [lsmfs, data, mnt, "-f", "-o", "log=" + os.path.join(d, "log")]
    if opts:
        cmd += ["-o", opts]
    env = dict(os.environ)
    if callgrind:
        cmd = ["valgrind", "-q", "--tool=callgrind",
               "--callgrind-out-file=" + os.path.join(d, "cg.out.%p")] + cmd
    daemon = subprocess.Popen(cmd)
    if callgrind:
        hook = os.path.join(d, "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nif [ \"$1\" = start ]; then\n"
                    f"  callgrind_control -z {daemon.pid} >/dev/null\n"
                    "else\n"
                    f"  callgrind_control -d \"$2\" {daemon.pid} >/dev/null\n"
                    "fi\n")
        os.chmod(hook, 0o755)
        env["LSMFS_BENCH_HOOK"] = hook
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
                           capture_output=True, text=True, env=env)
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
        if callgrind:
            for fn in glob.glob(os.path.join(d, "cg.out.*")):
                with open(fn) as f:
                    text = f.read()
                m = re.search(r"^desc: Trigger: dump (\S+)", text, re.M)
                t = re.search(r"^totals: (\d+)", text, re.M)
                if m and t and m.group(1) in res:
                    res[m.group(1)]["instr"] = int(t.group(1)) / num
        return res
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        daemon.wait()
        if callgrind:
            pass  # the dumps were read above
        shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    lsmfs, bench = sys.argv[1], sys.argv[2]
    num, reps, base, cg = 5000, 5, None, False
    for a in sys.argv[3:]:
        if a.startswith("--num="):
            num = int(a[6:])
        elif a.startswith("--reps="):
            reps = int(a[7:])
        elif a.startswith("--dir="):
            base = a[6:]
        elif a == "--callgrind":
            cg = True
        elif a.startswith("--on="):
            global ON
            ON = a[5:]
        else:
            raise SystemExit(__doc__)
    runs = {"on": [], "off": []}
    for r in range(reps):
        order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
        for cfg in order:
            runs[cfg].append(run_one(lsmfs, bench, base,
                                     ON if cfg == "on" else None, num, cg))
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
    if cg:
        print(f"\n{'workload':16}{'instr/op off':>14}{'on':>10}{'on/off':>9}"
              f"{'spread off':>12}{'on':>8}")
        for w in WORKLOADS:
            i0 = [x[w]["instr"] for x in runs["off"]]
            i1 = [x[w]["instr"] for x in runs["on"]]
            m0, m1 = statistics.median(i0), statistics.median(i1)
            print(f"{w:16}{m0:14.0f}{m1:10.0f}{m1 / m0:9.3f}"
                  f"{(max(i0) - min(i0)) / m0:12.3f}"
                  f"{(max(i1) - min(i1)) / m1:8.3f}")


if __name__ == "__main__":
    main()

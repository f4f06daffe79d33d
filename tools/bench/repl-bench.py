#!/usr/bin/env python3
"""repl-bench.py - lsmfs-replicate under load, on loopback, against rsync.

    python3 tools/bench/repl-bench.py [--build build] [--dir DIR]
        [--seconds 20] [--rate 200] [--runs 5] [--boot-mb 256]
        [--json OUT.json] [--svg OUT.svg]

A primary lsmfs mount (default options: sync=manual, so the sender's own
fdatasync is part of what is measured) served by `lsmfs-replicate --listen`
over TCP (authenticated and encrypted) to one replica, itself mounted
read-only.  Measures:

  lag        a writer creates 1 KiB files at --rate per second for
             --seconds; a poller on the replica's mount looks for each one
             every 0.5 ms: the time from the writer's close() to the file
             reading back whole there is one sample (p50, p90, p99, max).
  wire       bytes the sender framed during the lag phase / bytes the
             primary's log grew by meanwhile (goal <= 1.05).
  cost       the daemon's CPU seconds per MiB of log shipped, and the
             primary's write rate (files/s, 4 KiB files, as fast as one
             writer goes) with and without the daemon and its replica,
             interleaved, medians of --runs.
  catch-up   the replica stopped while 20,000 small files are written, then
             `lsmfs-replicate --once`: operations applied per second, next to
             the engine's own fillrandom rate (lsmfs-bench, same run).
  bootstrap  a primary of --boot-mb MiB of 1 MiB files: a fresh replica by
             lsmfs-replicate --once against `rsync -a` of the data directory
             (both from a warm page cache), MB/s.

A benchmark, not a test: it asserts nothing about speed."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def wait_for(cond, secs, what):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


class Bench:
    def __init__(self, a):
        self.a = a
        b = os.path.abspath(a.build)
        self.lsmfs = f"{b}/fs/lsmfs"
        self.repl = f"{b}/replicate/lsmfs-replicate"
        self.kvbench = f"{b}/tools/bench/lsmfs-bench"
        self.root = tempfile.mkdtemp(prefix="repl-bench.", dir=a.dir)
        self.procs = []
        self.mounts = []
        self.key = f"{self.root}/key"
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()

    def path(self, name):
        return os.path.join(self.root, name)

    def mount(self, data, mnt, opts=None):
        os.makedirs(mnt, exist_ok=True)
        os.makedirs(data, exist_ok=True)
        cmd = [self.lsmfs, data, mnt] + (["-o", opts] if opts else [])
        subprocess.run(cmd, check=True)
        self.mounts.append(mnt)

    def umount(self, mnt):
        subprocess.run(["fusermount3", "-u", mnt], check=True)
        self.mounts.remove(mnt)
        time.sleep(0.3)

    def start(self, args, log):
        p = subprocess.Popen([self.repl, "--log", self.path(log)] + args)
        self.procs.append(p)
        return p

    def stop(self, p):
        p.terminate()
        p.wait()
        self.procs.remove(p)

    def cleanup(self):
        for p in list(self.procs):
            p.kill()
            p.wait()
        for m in list(self.mounts):
            subprocess.run(["fusermount3", "-u", "-z", m])
        shutil.rmtree(self.root, ignore_errors=True)


def stat_file(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                k, v = line.rsplit(None, 1)
                out[k] = float(v)
    except FileNotFoundError:
        pass
    return out


def find(stats, name):
    """The first figure whose name (labels aside) ends with NAME."""
    for k, v in stats.items():
        if k.split("{")[0].endswith(name):
            return v
    return 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def lag_phase(b, mp, mr, secs, rate):
    os.makedirs(f"{mp}/lag", exist_ok=True)
    wait_for(lambda: os.path.isdir(f"{mr}/lag"), 30, "the replica's lag dir")
    n = int(secs * rate)
    commits = [None] * n
    seen = [None] * n
    payload = b"x" * 1000

    def poller():
        i = 0
        while i < n:
            if commits[i] is None:
                time.sleep(0.0005)
                continue
            try:
                with open(f"{mr}/lag/{i:06d}", "rb") as f:
                    if len(f.read()) == len(payload):
                        seen[i] = time.monotonic()
                        i += 1
                        continue
            except OSError:
                pass
            time.sleep(0.0005)

    t = threading.Thread(target=poller)
    t.start()
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        with open(f"{mp}/lag/{i:06d}", "wb") as f:
            f.write(payload)
        commits[i] = time.monotonic()
    t.join(timeout=120)
    return [(s - c) * 1000 for c, s in zip(commits, seen) if s is not None]


def write_burst(mp, sub, count):
    d = f"{mp}/{sub}"
    os.makedirs(d)
    data = b"y" * 4096
    t0 = time.monotonic()
    for i in range(count):
        with open(f"{d}/{i:06d}", "wb") as f:
            f.write(data)
    return count / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--burst", type=int, default=3000)
    ap.add_argument("--boot-mb", type=int, default=256)
    ap.add_argument("--primary-opts", default=None,
                    help="mount options of the primary, e.g. sync=always")
    ap.add_argument("--unsynced", action="store_true",
                    help="ship records the primary has not synced")
    ap.add_argument("--lag-only", action="store_true")
    ap.add_argument("--daemon-args", default="")
    ap.add_argument("--json")
    ap.add_argument("--svg")
    a = ap.parse_args()
    b = Bench(a)
    res = {}
    try:
        P, R = b.path("primary"), b.path("replica")
        MP, MR = b.path("mp"), b.path("mr")
        b.mount(P, MP, a.primary_opts)
        sstats, rstats = b.path("sender.prom"), b.path("receiver.prom")
        daemon = b.start(["--listen", f"127.0.0.1:{b.port}", "--key", b.key,
                          "--stats", sstats] + a.daemon_args.split() + [P],
                         "daemon.log")
        time.sleep(0.3)
        url = f"lsmfs://127.0.0.1:{b.port}"
        extra = ["--unsynced"] if a.unsynced else []
        recv = b.start(extra + ["--key", b.key, "--stats", rstats, url, R],
                       "receiver.log")
        wait_for(lambda: os.path.exists(f"{R}/CURRENT"), 30, "the replica")
        b.mount(R, MR, "ro")
        # ---- lag, wire bytes, daemon CPU ----
        s0 = stat_file(sstats)
        p0 = stat_file(f"{MP}/.lsmfs/stats")
        cpu0 = cpu_seconds(daemon.pid)
        lags = lag_phase(b, MP, MR, a.seconds, a.rate)
        time.sleep(1.5)
        cpu1 = cpu_seconds(daemon.pid)
        s1 = stat_file(sstats)
        p1 = stat_file(f"{MP}/.lsmfs/stats")
        wal = find(p1, "wal_written_bytes_total") - find(p0, "wal_written_bytes_total")
        wire = find(s1, "wire_bytes_total") - find(s0, "wire_bytes_total")
        rec = find(s1, "record_bytes_total") - find(s0, "record_bytes_total")
        res["lag_ms"] = {"n": len(lags), "p50": pct(lags, 0.5),
                         "p90": pct(lags, 0.9), "p99": pct(lags, 0.99),
                         "max": max(lags) if lags else None}
        res["lag_samples_ms"] = lags
        res["wire_per_wal_byte"] = wire / wal if wal else None
        res["wal_bytes"] = wal
        res["wire_bytes"] = wire
        res["daemon_cpu_s_per_mib"] = ((cpu1 - cpu0) / (rec / 2**20)
                                       if rec else None)
        if a.lag_only:
            raise StopIteration
        # ---- primary write rate with and without replication ----
        with_r, without = [], []
        for run in range(a.runs):
            for on in (True, False) if run % 2 == 0 else (False, True):
                if not on:
                    b.stop(recv)
                    b.stop(daemon)
                rate = write_burst(MP, f"burst{run}{int(on)}", a.burst)
                (with_r if on else without).append(rate)
                if not on:
                    daemon = b.start(["--listen", f"127.0.0.1:{b.port}",
                                      "--key", b.key, "--stats", sstats, P],
                                     "daemon.log")
                    time.sleep(0.3)
                    recv = b.start(extra + ["--key", b.key, "--stats",
                                            rstats, url, R], "receiver.log")
        res["write_files_per_s"] = {"with": statistics.median(with_r),
                                    "without": statistics.median(without),
                                    "runs_with": with_r,
                                    "runs_without": without}
        # ---- catch-up ----
        b.stop(recv)
        os.makedirs(f"{MP}/catchup")
        for i in range(20000):
            with open(f"{MP}/catchup/{i:06d}", "wb") as f:
                f.write(b"z" * 100)
        r0 = stat_file(rstats)
        t0 = time.monotonic()
        subprocess.run([b.repl, "--once", "--key", b.key, "--stats", rstats,
                        "--log", b.path("catchup.log"), url, R], check=True)
        dt = time.monotonic() - t0
        r1 = stat_file(rstats)
        ops = find(r1, "lsmfs_replica_ops_total")
        res["catchup"] = {"seconds": dt, "ops": ops,
                          "ops_per_s": ops / dt if dt else None,
                          "bootstraps": find(r1, "bootstraps_total")}
        out = subprocess.run([b.kvbench, "--benchmarks=fillrandom",
                              "--num=200000", "--engines=lsm",
                              f"--db={b.path('kv')}"], capture_output=True,
                             text=True)
        for line in out.stdout.splitlines():
            if "fillrandom" in line:
                res["engine_fillrandom_line"] = line.strip()
        b.umount(MR)
        b.stop(daemon)
        b.umount(MP)
        # ---- bootstrap against rsync ----
        B = b.path("boot")
        MB = b.path("mb")
        b.mount(B, MB)
        chunk = os.urandom(1 << 20)
        for i in range(a.boot_mb):
            with open(f"{MB}/f{i:05d}", "wb") as f:
                f.write(chunk[i % 7:] + chunk[:i % 7])
        b.umount(MB)
        size = sum(os.path.getsize(os.path.join(dp, f))
                   for dp, _, fs in os.walk(B) for f in fs)
        subprocess.run(["cat"] + [os.path.join(dp, f) for dp, _, fs
                                  in os.walk(B) for f in fs],
                       stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        subprocess.run([b.repl, "--once", "--log", b.path("boot.log"), B,
                        b.path("boot-replica")], check=True)
        t_repl = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run(["rsync", "-a", B + "/", b.path("boot-rsync") + "/"],
                       check=True)
        t_rsync = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run(["rsync", "-a", "--fsync", B + "/",
                        b.path("boot-rsync-fsync") + "/"], check=True)
        t_rsync_fsync = time.monotonic() - t0
        # each copies what it copies: the replica gets the tables, live
        # log and manifest; rsync the whole directory (archive, reserve)
        rsize = sum(os.path.getsize(os.path.join(dp, f))
                    for dp, _, fs in os.walk(b.path("boot-replica"))
                    for f in fs if f not in ("RESERVE", "LOCK"))
        res["bootstrap"] = {"bytes": rsize, "rsync_bytes": size,
                            "lsmfs_replicate_MBps": rsize / t_repl / 1e6,
                            "rsync_MBps": size / t_rsync / 1e6,
                            "rsync_fsync_MBps": size / t_rsync_fsync / 1e6}
    except StopIteration:
        pass
    finally:
        b.cleanup()
    lag = res["lag_ms"]
    print(f"lag (commit -> visible in the replica's ro mount), {lag['n']} "
          f"writes at {a.rate:.0f}/s: p50 {lag['p50']:.2f} ms, p90 "
          f"{lag['p90']:.2f} ms, p99 {lag['p99']:.2f} ms, max "
          f"{lag['max']:.2f} ms")
    print(f"wire bytes per log byte: {res['wire_per_wal_byte']:.3f} "
          f"({res['wire_bytes']:.0f} / {res['wal_bytes']:.0f})")
    print(f"daemon CPU: {res['daemon_cpu_s_per_mib']:.3f} s per MiB shipped")
    if a.lag_only:
        return
    w = res["write_files_per_s"]
    print(f"primary writes (4 KiB files/s, medians of {a.runs}): with "
          f"replication {w['with']:.0f}, without {w['without']:.0f} "
          f"(ratio {w['with'] / w['without']:.2f})")
    c = res["catchup"]
    print(f"catch-up: {c['ops']:.0f} operations in {c['seconds']:.2f} s = "
          f"{c['ops_per_s']:.0f} ops/s; engine: "
          f"{res.get('engine_fillrandom_line', '?')}")
    bs = res["bootstrap"]
    print(f"bootstrap of {bs['bytes'] / 2**20:.0f} MiB (rsync: "
          f"{bs['rsync_bytes'] / 2**20:.0f} MiB): lsmfs-replicate "
          f"{bs['lsmfs_replicate_MBps']:.0f} MB/s, rsync -a "
          f"{bs['rsync_MBps']:.0f} MB/s (ratio "
          f"{bs['lsmfs_replicate_MBps'] / bs['rsync_MBps']:.2f}), rsync -a "
          f"--fsync {bs['rsync_fsync_MBps']:.0f} MB/s (ratio "
          f"{bs['lsmfs_replicate_MBps'] / bs['rsync_fsync_MBps']:.2f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.svg:
        svg(res, a.svg)


def svg(res, path):
    """The lag distribution as a CDF, and the ratios as bars."""
    xs = sorted(res["lag_samples_ms"])
    W, H, L, B = 640, 300, 60, 40
    top = max(xs[-1], 1.0)
    pts = " ".join(f"{L + (W - L - 20) * x / top:.1f},"
                   f"{H - B - (H - B - 20) * (i + 1) / len(xs):.1f}"
                   for i, x in enumerate(xs))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
             f'height="{H + 160}" font-family="sans-serif" font-size="12">',
             f'<text x="{L}" y="14">lsmfs-replicate: commit to visible in '
             f'the replica mount (CDF, ms)</text>',
             f'<line x1="{L}" y1="{H - B}" x2="{W - 20}" y2="{H - B}" '
             f'stroke="black"/>',
             f'<line x1="{L}" y1="20" x2="{L}" y2="{H - B}" stroke="black"/>',
             f'<polyline fill="none" stroke="steelblue" stroke-width="2" '
             f'points="{pts}"/>']
    for q in (0, 0.25, 0.5, 0.75, 1.0):
        x = L + (W - L - 20) * q
        parts.append(f'<text x="{x:.0f}" y="{H - B + 16}" '
                     f'text-anchor="middle">{top * q:.1f}</text>')
    for q in (0, 0.5, 0.99):
        y = H - B - (H - B - 20) * q
        parts.append(f'<text x="{L - 6}" y="{y:.0f}" text-anchor="end">'
                     f'{q:g}</text>')
    bars = [("wire / log bytes", res["wire_per_wal_byte"]),
            ("writes with / without", res["write_files_per_s"]["with"] /
             res["write_files_per_s"]["without"]),
            ("bootstrap / rsync", res["bootstrap"]["lsmfs_replicate_MBps"] /
             res["bootstrap"]["rsync_MBps"])]
    for i, (name, v) in enumerate(bars):
        y = H + 10 + i * 45
        w = min(v, 3) / 3 * (W - 200)
        parts.append(f'<text x="10" y="{y + 18}">{name}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{w:.0f}" height="26" '
                     f'fill="steelblue"/>')
        parts.append(f'<text x="{175 + w:.0f}" y="{y + 18}">{v:.2f}x</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


if __name__ == "__main__":
    main()

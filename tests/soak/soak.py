#!/usr/bin/env python3
"""soak.py - a long random workload over everything lsmfs does at once.

One primary mount on a small disk (tmpfs, nearly full by design), a
read-only follower mount of the same store, a replica fed by
lsmfs-replicate and mounted read-only, and, where this build has them,
snapshots (.lsmfs/snapshots), expiring files (user.lsmfs.ttl) and a
capacity bound with eviction (-o max_size,on_full=evict).  A single writer
creates, replaces, renames and deletes files of up to 256 KiB, and every
few seconds the primary is compacted or killed -9 and remounted.

Every file the workload writes checks itself: a header line names the
file's identity, generation and length, and the body is a pure function
of them.  So any view (follower, replica, snapshot) can be checked
without knowing how far it got: every file it shows must be whole and
consistent, never a mix of versions, never wrong bytes.  The primary is
checked exactly against the model (modulo eviction, expiry and writes
refused by a full disk); each snapshot exactly against the model as it
was when it was taken.  Bounds: the daemons' RSS, the store's bytes (and
max_size's live bytes), and the replica's lag at the end.

Usage: soak.py WORKDIR SECONDS [SEED]   (LSMFS, LSMFS_CTL, REPL in env)
Exit 0 when every check held; 1 with the first failure otherwise."""
import errno
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

LSMFS = os.environ["LSMFS"]
CTL = os.environ["LSMFS_CTL"]
REPL = os.environ.get("REPL", "")
MAX_FILE = 256 * 1024
RSS_LIMIT_MB = 600          # any daemon of this soak; the defaults use ~100
LAG_LIMIT_S = 60            # the replica matches the primary within this
HDR_LEN = 64


class Fail(Exception):
    pass


def log(msg):
    print("soak: %s" % msg, flush=True)


# ---- self-checking file contents ----

def body(fid, gen, n):
    out = bytearray()
    k = 0
    seed = ("%d:%d" % (fid, gen)).encode()
    while len(out) < n:
        out += hashlib.sha256(seed + b"/%d" % k).digest()
        k += 1
    return bytes(out[:n])


def content(fid, gen, n):
    """A file of N bytes (N >= HDR_LEN) naming itself."""
    hdr = ("SOAK %d %d %d" % (fid, gen, n)).encode().ljust(HDR_LEN - 1) + b"\n"
    return hdr + body(fid, gen, n - HDR_LEN)


def parse(data):
    """(fid, gen, n) of a whole, consistent file, or raise Fail."""
    if len(data) < HDR_LEN:
        raise Fail("short file (%d bytes)" % len(data))
    parts = data[:HDR_LEN].split()
    if len(parts) != 4 or parts[0] != b"SOAK":
        raise Fail("bad header %r" % data[:HDR_LEN])
    fid, gen, n = int(parts[1]), int(parts[2]), int(parts[3])
    if n != len(data):
        raise Fail("header says %d bytes, file has %d" % (n, len(data)))
    if data[HDR_LEN:] != body(fid, gen, n - HDR_LEN):
        raise Fail("wrong bytes in the body of file %d gen %d" % (fid, gen))
    return fid, gen, n


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- processes ----

class Daemon:
    def __init__(self, work, name, args, log_name):
        self.name = name
        self.args = args
        self.logf = open(os.path.join(work, log_name), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.logf,
                                     stderr=self.logf)

    def rss_mb(self):
        if not self.proc or self.proc.poll() is not None:
            return 0
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
        return 0

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mounted(mnt):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


def unmount(mnt):
    for args in (["fusermount3", "-u", mnt], ["fusermount3", "-u", "-z", mnt],
                 ["umount", "-l", mnt]):
        if not mounted(mnt):
            return
        subprocess.run(args, stderr=subprocess.DEVNULL)
        time.sleep(0.1)


class Mount(Daemon):
    def __init__(self, work, name, data, mnt, opts):
        os.makedirs(mnt, exist_ok=True)
        args = [LSMFS, data, mnt, "-f"] + (["-o", opts] if opts else [])
        super().__init__(work, name, args, name + ".log")
        self.mnt = mnt

    def start(self):
        super().start()
        deadline = time.time() + 20
        while time.time() < deadline:
            if mounted(self.mnt):
                try:
                    os.stat(self.mnt)
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise Fail("%s: lsmfs exited (%d) before mounting; see %s.log"
                           % (self.name, self.proc.returncode, self.name))
            time.sleep(0.05)
        raise Fail("%s: did not mount within 20 s" % self.name)

    def stop(self):
        unmount(self.mnt)
        if self.proc:
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                raise Fail("%s: lsmfs did not exit after unmount" % self.name)
            if rc != 0:
                raise Fail("%s: lsmfs exited with %d" % (self.name, rc))

    def crash(self):
        self.kill()
        unmount(self.mnt)


# ---- the soak ----

class Soak:
    def __init__(self, work, seconds, seed):
        self.work = work
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.seed = seed
        self.disk = os.path.join(work, "disk")
        self.data = os.path.join(self.disk, "data")
        self.mp = os.path.join(work, "mp")
        self.mf = os.path.join(work, "mf")
        self.rdir = os.path.join(work, "replica")
        self.mr = os.path.join(work, "mr")
        self.model = {}       # relative path -> (fid, gen, n, expiry or None)
        self.dirs = {""}
        self.next_fid = 1
        self.snaps = {}       # name -> model copy
        self.counts = {}
        self.rss_max = {}
        self.store_max = 0
        self.disk_size = 0
        self.drain = 0
        self.live_max = 0

    def count(self, k, n=1):
        self.counts[k] = self.counts.get(k, 0) + n

    def p(self, rel, root=None):
        return os.path.join(root or self.mp, rel) if rel else (root or self.mp)

    # -- setup --

    def setup(self):
        os.makedirs(self.disk, exist_ok=True)
        self.disk_size = 96 << 20
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%d" % self.disk_size, "soak", self.disk],
                       check=True)
        os.makedirs(self.data)
        help_text = subprocess.run([LSMFS, "--help"], capture_output=True,
                                   text=True).stdout + \
            subprocess.run([LSMFS, "--help"], capture_output=True,
                           text=True).stderr
        self.evict = "on_full" in help_text
        self.max_size = 8 << 20
        opts = ["memtable_size=1M", "table_size=1M", "reserve=8M",
                "idle_compact_ms=1000", "wal_archive=16M"]
        if self.evict:
            opts += ["max_size=%d" % self.max_size, "on_full=evict"]
        self.primary = Mount(self.work, "primary", self.data, self.mp,
                             ",".join(opts))
        self.primary.start()
        self.snapshots = os.path.isdir(os.path.join(self.mp, ".lsmfs",
                                                    "snapshots"))
        # (user.lsmfs.ttl is an ordinary xattr to a build without TTLs)
        self.ttl = "default_ttl" in help_text
        self.follower = Mount(self.work, "follower", self.data, self.mf,
                              "ro")
        self.follower.start()
        self.repl = None
        if REPL:
            self.repl = Daemon(self.work, "replicate",
                               [REPL, "--log-level", "info", self.data,
                                self.rdir], "replicate.log")
            self.repl.start()
            deadline = time.time() + 60
            while not os.path.exists(os.path.join(self.rdir, "CURRENT")):
                if time.time() > deadline:
                    raise Fail("the replica was not bootstrapped in 60 s")
                if self.repl.proc.poll() is not None:
                    raise Fail("lsmfs-replicate exited (%d)"
                               % self.repl.proc.returncode)
                time.sleep(0.1)
            self.replica = Mount(self.work, "replica", self.rdir, self.mr,
                                 "ro")
            self.replica.start()
        log("features: snapshots %s, ttl %s, evict %s, replica %s"
            % (self.snapshots, self.ttl, self.evict, bool(self.repl)))

    def teardown(self):
        for m in ("replica", "follower", "primary"):
            d = getattr(self, m, None)
            if d:
                try:
                    d.stop()
                except Fail as e:
                    log("teardown: %s" % e)
                    d.crash()
        if getattr(self, "repl", None):
            self.repl.kill(signal.SIGTERM)
        unmount(self.disk)

    # -- operations on the primary --

    def free_ok(self, e):
        """A write may fail for want of room (nearly full disk, max_size
        with on_full=error): nothing else."""
        return e.errno in (errno.ENOSPC, errno.EDQUOT)

    def write_file(self, rel, fid, gen, n, ttl=None):
        """Atomic replace: write a temporary name, then rename it over."""
        tmp = self.p(os.path.join(os.path.dirname(rel), ".tmp-%d" % fid))
        try:
            with open(tmp, "wb") as f:
                f.write(content(fid, gen, n))
            if ttl is not None:
                os.setxattr(tmp, "user.lsmfs.ttl", b"%d" % ttl)
            os.rename(tmp, self.p(rel))
        except OSError as e:
            if not self.free_ok(e):
                raise Fail("writing %s: %s" % (rel, e))
            self.count("enospc")
            self.drain = 30   # the disk is full: delete for a while
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True

    def op(self):
        r = self.rng.random()
        files = list(self.model)
        if self.drain and files:
            self.drain -= 1
            r = 0.70  # a delete
        if r < 0.40 or not files:                      # create
            d = self.rng.choice(sorted(self.dirs))
            rel = os.path.join(d, "f%d" % self.next_fid) if d else \
                "f%d" % self.next_fid
            fid = self.next_fid
            self.next_fid += 1
            n = HDR_LEN + int(self.rng.expovariate(1 / 24000)) % MAX_FILE
            ttl = None
            if self.ttl and self.rng.random() < 0.2:
                ttl = self.rng.randint(1, 6)
            t0 = time.time()
            if self.write_file(rel, fid, 1, n, ttl):
                self.model[rel] = (fid, 1, n, t0 + ttl if ttl else None,
                                   time.time() + ttl if ttl else None)
                self.count("create")
        elif r < 0.60:                                 # replace
            rel = self.rng.choice(files)
            fid, gen, _, exp0, exp1 = self.model[rel]
            if exp0 is not None:
                return  # its expiry is not reset by a write: keep it simple
            n = HDR_LEN + int(self.rng.expovariate(1 / 24000)) % MAX_FILE
            if self.write_file(rel, fid, gen + 1, n):
                self.model[rel] = (fid, gen + 1, n, None, None)
                self.count("replace")
            else:
                # the rename never happened: the old version stays
                pass
        elif r < 0.75:                                 # delete
            rel = self.rng.choice(files)
            try:
                os.unlink(self.p(rel))
            except FileNotFoundError:
                if not self.may_be_gone(rel):
                    raise Fail("unlink %s: ENOENT, but it should exist" % rel)
            del self.model[rel]
            self.count("delete")
        elif r < 0.85:                                 # rename
            rel = self.rng.choice(files)
            d = self.rng.choice(sorted(self.dirs))
            new = os.path.join(d, "r%d" % self.next_fid) if d else \
                "r%d" % self.next_fid
            self.next_fid += 1
            try:
                os.rename(self.p(rel), self.p(new))
            except FileNotFoundError:
                if not self.may_be_gone(rel):
                    raise Fail("rename %s: ENOENT, but it exists" % rel)
                del self.model[rel]
                return
            self.model[new] = self.model.pop(rel)
            self.count("rename")
        elif r < 0.90 and len(self.dirs) < 40:         # mkdir
            parent = self.rng.choice(sorted(self.dirs))
            rel = os.path.join(parent, "d%d" % self.next_fid) if parent \
                else "d%d" % self.next_fid
            self.next_fid += 1
            try:
                os.mkdir(self.p(rel))
            except OSError as e:
                if not self.free_ok(e):
                    raise Fail("mkdir %s: %s" % (rel, e))
                return
            self.dirs.add(rel)
        else:                                          # read (recency)
            rel = self.rng.choice(files)
            self.check_file(rel, self.mp, self.model.get(rel))

    def may_be_gone(self, rel):
        m = self.model[rel]
        if self.evict:
            return True
        return m[3] is not None and time.time() >= m[3] - 0.05

    # -- checks --

    def check_file(self, rel, root, m, now=None):
        """The primary: the file as the model says, or legitimately gone."""
        now = time.time() if now is None else now
        path = self.p(rel, root)
        try:
            data = read(path)
        except FileNotFoundError:
            if m is None:
                return
            exp_early = m[3]
            if exp_early is not None and now >= exp_early - 0.05:
                return  # expired
            if self.evict:
                return  # evicted
            raise Fail("%s: missing (the model has gen %d, %d bytes)"
                       % (rel, m[1], m[2]))
        try:
            fid, gen, n = parse(data)
        except Fail as e:
            raise Fail("%s: %s" % (rel, e))
        if m is None:
            raise Fail("%s: present, but it was deleted" % rel)
        if (fid, gen, n) != m[:3]:
            raise Fail("%s: holds file %d gen %d (%d bytes), the model has "
                       "%d gen %d (%d bytes)" % (rel, fid, gen, n, *m[:3]))
        exp_late = m[4]
        if exp_late is not None and time.time() > exp_late + 1.0:
            raise Fail("%s: still readable %.1f s after it expired"
                       % (rel, time.time() - exp_late))

    def walk(self, root):
        """Every regular file under ROOT (relative), skipping .lsmfs and
        the writer's temporaries."""
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == root and ".lsmfs" in dirnames:
                dirnames.remove(".lsmfs")
            for f in filenames:
                if not f.startswith(".tmp-"):
                    out.append(os.path.relpath(os.path.join(dirpath, f),
                                               root))
        return out

    def check_view(self, root, what):
        """A follower or replica: every file whole and consistent."""
        n = 0
        for rel in self.walk(root):
            try:
                data = read(os.path.join(root, rel))
            except FileNotFoundError:
                continue  # deleted as we looked
            try:
                parse(data)
            except Fail as e:
                raise Fail("%s: %s: %s" % (what, rel, e))
            n += 1
        return n

    def check_primary(self):
        now = time.time()
        seen = set(self.walk(self.mp))
        for rel, m in list(self.model.items()):
            self.check_file(rel, self.mp, m, now)
        for rel in seen - set(self.model):
            if os.path.exists(self.p(rel)):
                raise Fail("%s: on the primary, but the model deleted it"
                           % rel)

    def take_snapshot(self):
        name = "s%d" % self.counts.get("snapshot", 0)
        path = os.path.join(self.mp, ".lsmfs", "snapshots", name)
        present = set(self.walk(self.mp)) if self.evict else set()
        try:
            os.mkdir(path)
        except OSError as e:
            if self.free_ok(e):
                return
            raise Fail("mkdir %s: %s" % (path, e))
        model = dict(self.model)
        if self.evict:
            # evictions are not in the model: keep what was there just
            # before (only this writer's writes evict)
            model = {r: m for r, m in model.items() if r in present}
        self.snaps[name] = (time.time(), model)
        self.count("snapshot")

    def check_snapshot(self, name):
        root = os.path.join(self.mp, ".lsmfs", "snapshots", name)
        taken, want = self.snaps[name]
        seen = set(self.walk(root))
        for rel in seen:
            try:
                fid, gen, n = parse(read(os.path.join(root, rel)))
            except Fail as e:
                raise Fail("snapshot %s: %s: %s" % (name, rel, e))
            if rel not in want:
                raise Fail("snapshot %s: %s was not there when it was "
                           "taken" % (name, rel))
            if (fid, gen, n) != want[rel][:3]:
                raise Fail("snapshot %s: %s changed: gen %d, was %d"
                           % (name, rel, gen, want[rel][1]))
        for rel, m in want.items():
            # a snapshot is frozen: what had not expired when it was
            # taken is in it for good (eviction included: it deletes
            # from the live tree only)
            if rel in seen:
                if m[3] is not None and m[4] < taken - 0.5:
                    raise Fail("snapshot %s: %s shows, but it had expired "
                               "%.1f s before the snapshot was taken"
                               % (name, rel, taken - m[4]))
                continue
            if m[3] is None or m[3] > taken + 0.5:
                raise Fail("snapshot %s: %s is missing" % (name, rel))

    def drop_snapshot(self):
        name = self.rng.choice(sorted(self.snaps))
        self.check_snapshot(name)
        os.rmdir(os.path.join(self.mp, ".lsmfs", "snapshots", name))
        del self.snaps[name]

    def bounds(self):
        for d in (self.primary, self.follower, getattr(self, "replica", None),
                  self.repl):
            if d is None:
                continue
            r = d.rss_mb()
            self.rss_max[d.name] = max(self.rss_max.get(d.name, 0), r)
            if r > RSS_LIMIT_MB:
                raise Fail("%s: RSS %.0f MB > %d MB" % (d.name, r,
                                                        RSS_LIMIT_MB))
        self.store_max = max(self.store_max, self.store_bytes())
        if self.evict:
            st = self.stat("lsmfs_live_bytes")
            self.live_max = max(self.live_max, st)
            # one writer: past the bound by at most the write under way
            if st > self.max_size + MAX_FILE + HDR_LEN:
                raise Fail("live bytes %d past max_size %d with eviction"
                           % (st, self.max_size))

    def stat(self, name):
        with open(os.path.join(self.mp, ".lsmfs", "stats")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] == name:
                    return int(float(parts[1]))
        raise Fail("no %s in .lsmfs/stats" % name)

    def store_bytes(self):
        n = 0
        for dp, _, fs in os.walk(self.data):
            for f in fs:
                try:
                    n += os.stat(os.path.join(dp, f)).st_blocks * 512
                except FileNotFoundError:
                    pass
        return n

    def compact(self):
        """A compaction through .lsmfs/ctl; on a full disk it may fail for
        want of room (ENOSPC), as it says."""
        try:
            with open(os.path.join(self.mp, ".lsmfs", "ctl"), "w") as f:
                f.write("compact\n")
            self.count("compact")
        except OSError as e:
            if not self.free_ok(e):
                raise Fail("compact: %s" % e)
            self.count("compact_enospc")

    def crash_primary(self):
        self.primary.crash()
        self.count("crash")
        self.primary.start()
        # acknowledged = renamed; sync=manual loses nothing on a process
        # kill, so the model stands as it was
        self.check_primary()

    def run(self):
        self.setup()
        t_end = time.time() + self.seconds
        next_event = time.time() + 3
        ops = 0
        while time.time() < t_end:
            self.op()
            ops += 1
            if time.time() < next_event:
                continue
            next_event = time.time() + 3
            self.check_primary()
            self.count("views", self.check_view(self.mf, "follower"))
            if self.repl:
                self.count("views", self.check_view(self.mr, "replica"))
                if self.repl.proc.poll() is not None:
                    raise Fail("lsmfs-replicate exited (%d)"
                               % self.repl.proc.returncode)
            for name in list(self.snaps):
                self.check_snapshot(name)
            self.bounds()
            e = self.rng.random()
            if e < 0.15:
                self.crash_primary()
            elif e < 0.35:
                self.compact()
            elif e < 0.6 and self.snapshots:
                if len(self.snaps) < 3:
                    self.take_snapshot()
                else:
                    self.drop_snapshot()
        log("%d operations; counts %s" % (ops, self.counts))
        if self.evict:
            st = open(os.path.join(self.mp, ".lsmfs", "stats")).read()
            ev = [l for l in st.splitlines() if "evict" in l and
                  not l.startswith("#")]
            log("eviction: %s; live bytes peaked at %.1f MiB (bound %.1f)"
                % ("; ".join(ev), self.live_max / 2**20,
                   self.max_size / 2**20))
        self.finish()

    def finish(self):
        # expiry: wait out the longest TTL, then nothing expired shows
        if self.ttl:
            time.sleep(7)
        self.check_primary()
        for name in list(self.snaps):
            self.check_snapshot(name)
        if self.repl:
            deadline = time.time() + LAG_LIMIT_S
            while True:
                a = {r: read(self.p(r)) for r in self.walk(self.mp)
                     if os.path.exists(self.p(r))}
                try:
                    b = {r: read(os.path.join(self.mr, r))
                         for r in self.walk(self.mr)}
                except FileNotFoundError:
                    b = None
                if a == b:
                    break
                if time.time() > deadline:
                    raise Fail("the replica did not match the primary "
                               "within %d s" % LAG_LIMIT_S)
                time.sleep(0.5)
            # The primary is killed, never cut off from its disk, and the
            # sender ships only what the primary made durable: a replica
            # can fall behind (a bootstrap), never diverge.
            with open(os.path.join(self.work, "replicate.log"),
                      errors="replace") as f:
                div = [ln for ln in f if "DIVERGED" in ln]
            if div:
                raise Fail("the replica was rebuilt %d times; first: %s"
                           % (len(div), div[0].strip()[:300]))
        self.compact()
        self.bounds()
        live = 0
        for r in self.walk(self.mp):
            try:
                live += os.stat(self.p(r)).st_size
            except FileNotFoundError:
                pass
        used = self.store_bytes()
        slack = 48 << 20  # memtables, log, archive (16M), reserve (8M)
        log("after a compaction: store %.1f MiB for %.1f MiB of files"
            % (used / 2**20, live / 2**20))
        if not self.snaps and used > 2 * live + slack:
            raise Fail("the store takes %.1f MiB for %.1f MiB of files"
                       % (used / 2**20, live / 2**20))
        self.teardown()
        for d in (self.data, self.rdir):
            if not os.path.isdir(d):
                continue
            r = subprocess.run([CTL, "check", d], capture_output=True,
                               text=True)
            if r.returncode != 0:
                raise Fail("lsmfs-ctl check %s: %s" % (d, r.stdout[-400:] +
                                                     r.stderr[-400:]))
        log("peak RSS MB %s; store peak %.1f MiB of a %d MiB disk"
            % ({k: round(v) for k, v in self.rss_max.items()},
               self.store_max / 2**20, self.disk_size >> 20))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    work = sys.argv[1]
    seconds = float(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else random.randrange(1 << 30)
    log("seed %d (replay with LSM_SEED=%d), %.0f s" % (seed, seed, seconds))
    s = Soak(work, seconds, seed)
    try:
        s.run()
    except Fail as e:
        log("FAIL: %s" % e)
        try:
            s.teardown()
        except Exception as e2:  # best effort
            log("teardown after failure: %s" % e2)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

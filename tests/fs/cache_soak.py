#!/usr/bin/env python3
"""cache_soak.py - a random cache workload on an lsmfs mount.

usage: cache_soak.py MNT FOLLOWER_MNT SECONDS SEED

Writes, overwrites, renames, deletes and reads files of up to 256 KiB in
a few directories of MNT (a mount with -o max_size and on_full=evict),
gives about half of them a TTL of 0.2-3 s, asks for compactions now and
then, and reads through FOLLOWER_MNT (a read-only mount of the same store)
too.  Every file's bytes are a function of (name, version), stated in its
first line, so any read can be checked whole: no wrong bytes, ever.
Checked all along: a file read is one version its name had (whole); a
file whose expiry passed (by more than the setfattr's own latency) is
absent on both mounts; the live bytes in .lsmfs/stats stay under
max_size.  Exits 1 with a message on the first violation.
"""
import errno
import hashlib
import os
import random
import sys
import time

SLACK = 0.25  # s: setfattr runs after the expiry we record is computed
FOLLOW_SETTLE = 1.5  # s: the follower has caught up with older writes


def content(name, version, size):
    head = f"{name}:{version}:{size}\n".encode()
    out = bytearray(head)
    seed = head
    while len(out) < size:
        seed = hashlib.blake2b(seed, digest_size=64).digest()
        out += seed
    return bytes(out[:max(size, len(head))])


def check_bytes(path, data, prefix_ok=False):
    """Returns (name, version) the bytes claim, after checking them.  With
    PREFIX_OK (a follower, which may see a file between its creation and
    its last write), an empty file or a prefix of a version is fine too:
    (None, None)."""
    if prefix_ok and not data:
        return None, None
    line = data.split(b"\n", 1)[0].decode(errors="replace")
    parts = line.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise SystemExit(f"FAIL: {path}: no header in {data[:40]!r}")
    name, version, size = parts[0], int(parts[1]), int(parts[2])
    want = content(name, version, size)
    if prefix_ok and len(data) < len(want) and want.startswith(data):
        return None, None
    if want != data:
        raise SystemExit(f"FAIL: {path}: wrong bytes for {name} v{version}"
                         f" ({len(data)} bytes read, {size} written)")
    return name, version


def stat_of(mnt, key):
    with open(os.path.join(mnt, ".lsmfs/stats")) as f:
        for line in f:
            w = line.split()
            if len(w) == 2 and w[0] == key:
                return int(w[1])
    return None


def main():
    mnt, fol, secs, seed = (sys.argv[1], sys.argv[2], float(sys.argv[3]),
                            int(sys.argv[4]))
    rng = random.Random(seed)
    dirs = ["a", "b", "c"]
    for d in dirs:
        os.makedirs(os.path.join(mnt, d), exist_ok=True)
    # model: relpath -> (logical name, version, expiry or None, written at)
    files = {}
    versions = {}
    next_name = 0
    ops = {"write": 0, "read": 0, "fread": 0, "expired_seen_gone": 0,
           "gone": 0}
    end = time.time() + secs
    max_size = stat_of(mnt, "lsmfs_max_size_bytes")
    while time.time() < end:
        r = rng.random()
        if r < 0.35 or not files:  # a new file, or a new version
            if files and rng.random() < 0.3:
                rel = rng.choice(list(files))
                name = files[rel][0]
            else:
                name = f"n{next_name}"
                next_name += 1
                rel = f"{rng.choice(dirs)}/{name}"
            ver = versions.get(name, 0) + 1
            versions[name] = ver
            size = rng.choice([200, 5000, 40000, 150000, 262144])
            path = os.path.join(mnt, rel)
            try:
                with open(path, "wb") as f:
                    f.write(content(name, ver, size))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                files.pop(rel, None)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                continue
            exp = None
            if rng.random() < 0.5:
                ttl = rng.uniform(0.2, 3.0)
                exp = time.time() + ttl
                try:
                    os.setxattr(path, "user.lsmfs.ttl", f"{ttl:.3f}".encode())
                except FileNotFoundError:
                    files.pop(rel, None)  # evicted meanwhile
                    continue
            files[rel] = (name, ver, exp, time.time())
            ops["write"] += 1
        elif r < 0.75:  # read, here or on the follower
            rel = rng.choice(list(files))
            name, ver, exp, written = files[rel]
            # the follower is read where nothing changed for a while: a
            # read(2) spans several FUSE reads, and one of a file being
            # rewritten may mix versions (as on any filesystem)
            on_follower = (rng.random() < 0.3 and
                           time.time() - written > FOLLOW_SETTLE)
            path = os.path.join(fol if on_follower else mnt, rel)
            t0 = time.time()
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, OSError) as e:
                if isinstance(e, FileNotFoundError) or e.errno in (
                        errno.ESTALE, errno.ENOENT):
                    if not on_follower:
                        ops["gone"] += 1
                        if exp is None or t0 < exp:
                            # evicted (or not yet seen by the follower)
                            pass
                        files.pop(rel)
                    continue
                raise
            got = check_bytes(path, data)
            if exp is not None and t0 > exp + SLACK:
                raise SystemExit(f"FAIL: {path} read {t0 - exp:.3f} s after "
                                 f"its expiry")
            if got != (name, ver):
                raise SystemExit(f"FAIL: {path}: v{got[1]} of {got[0]}, "
                                 f"wrote v{ver} of {name}")
            ops["fread" if on_follower else "read"] += 1
        elif r < 0.85:  # expired files are gone, on both mounts
            for rel, (name, ver, exp, _) in list(files.items()):
                if exp is not None and time.time() > exp + SLACK:
                    for m in (mnt, fol):
                        if os.path.exists(os.path.join(m, rel)):
                            raise SystemExit(
                                f"FAIL: {m}/{rel} exists "
                                f"{time.time() - exp:.3f} s after expiry")
                    files.pop(rel)
                    ops["expired_seen_gone"] += 1
        elif r < 0.92:  # rename (the name's content goes along)
            rel = rng.choice(list(files))
            new = f"{rng.choice(dirs)}/{files[rel][0]}"
            if new != rel and new not in files:
                try:
                    os.rename(os.path.join(mnt, rel), os.path.join(mnt, new))
                    files[new] = files.pop(rel)
                except FileNotFoundError:
                    files.pop(rel)
        elif r < 0.99:  # delete
            rel = rng.choice(list(files))
            try:
                os.unlink(os.path.join(mnt, rel))
            except FileNotFoundError:
                pass
            files.pop(rel)
        else:
            with open(os.path.join(mnt, ".lsmfs/ctl"), "w") as f:
                f.write("compact\n")
        if max_size and ops["write"] % 50 == 0:
            live = stat_of(mnt, "lsmfs_live_bytes")
            if live is not None and live > max_size:
                raise SystemExit(f"FAIL: live bytes {live} past {max_size}")
    ev = stat_of(mnt, "lsmfs_evicted_files_total")
    ex = stat_of(mnt, "lsmfs_expired_files_total")
    print(f"cache_soak: {ops}, evicted {ev}, expired {ex}")
    if not ev or not ex or ops["expired_seen_gone"] == 0:
        raise SystemExit("FAIL: the soak neither evicted nor expired: "
                         "it proves nothing")


if __name__ == "__main__":
    main()

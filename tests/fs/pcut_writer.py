#!/usr/bin/env python3
"""pcut_writer.py - the two halves of the power-cut test (fs_powercut.sh).

  write DIR LOG SEED    runs until killed or until a call fails
  check DIR LOG SEED MODE [SNAP]
  recheck DIR SNAP

`write` makes DIR (a fresh directory on the mount) and then performs a
sequence of operations that depends only on SEED: creates, truncating
opens, writes at random offsets (holes included), appends, truncates,
renames (replacing, across directories), unlinks, and now and then an
fsync or fdatasync of a file or of a directory.  Every operation is one
mutating system call, so one FUSE request and one engine batch.  Op n
(n = 1, 2, ...) is logged to LOG before it starts ("s n") and after it
returned ("o n"); after an fsync returned, "d n" says ops 1..n are durable.

Let S(n) be the tree DIR holds after ops 1..n (S(0): empty), computed by
replaying the sequence in a model.  After a power cut and a remount,
`check` requires that DIR equals S(n) - exactly the same regular files,
byte for byte, and nothing else - for some n with
    lo <= n <= hi,  hi = the last op started,
    lo = the last "d" (sync=manual: fsync makes every write before it
         durable), or the last "o" (MODE always: every write is durable
         when it returns), whichever is larger.
So nothing durable is lost, and what survives of the rest is a prefix of
the operations in order: never a later write without an earlier one,
never bytes nobody wrote (the contents of op n's write are unique to n).
One exception to "whole operations": the kernel may split one write(2)
into several FUSE write requests (it does at 64 KiB boundaries), each one
engine batch, so a write may also be found cut short: DIR may equal S(n-1)
with a prefix of op n's bytes written (lo < n <= hi, op n a write or an
append).  With SNAP, `check` saves the hashes of the tree
it accepted and `recheck` later asserts DIR still holds exactly that (so a
later crash must not disturb earlier, durable rounds)."""
import hashlib
import json
import os
import random
import sys

NAMES = ["a", "b", "c", "t", "sub/x", "sub/y", "sub/t"]
MAX_SIZE = 160 * 1024      # keeps a round's tree small
MAX_WRITE = 64 * 1024      # at most one FUSE write request (128 KiB)


def payload(n, length):
    """Bytes written by op N: unique to N, never all zeros."""
    unit = b"<op %08d>" % n
    return (unit * (length // len(unit) + 1))[:length]


def next_op(rng, files, n):
    """The op N, chosen from the model FILES (name -> bytearray)."""
    exist = sorted(files)
    absent = [x for x in NAMES if x not in files]
    while True:
        r = rng.random()
        if r < 0.10 and absent:
            return ("create", rng.choice(absent))
        if not exist:
            continue
        name = rng.choice(exist)
        size = len(files[name])
        if r < 0.15:
            return ("otrunc", name)
        if r < 0.45:
            off = rng.randint(0, min(size + 4096, MAX_SIZE - 1))
            length = rng.randint(1, min(MAX_WRITE, MAX_SIZE - off))
            return ("pwrite", name, off, payload(n, length))
        if r < 0.65:
            length = rng.randint(1, MAX_WRITE)
            if size + length > MAX_SIZE:
                return ("truncate", name, rng.randint(0, size))
            return ("append", name, payload(n, length))
        if r < 0.73:
            return ("truncate", name, rng.randint(0, min(size + 8192,
                                                         MAX_SIZE)))
        if r < 0.85:
            to = rng.choice(NAMES)
            if to != name:
                return ("rename", name, to)
            continue
        if r < 0.92:
            return ("unlink", name)
        if r < 0.96:
            return ("fsync", name, rng.random() < 0.3)
        return ("fsyncdir", rng.choice(["", "sub"]))


def apply(files, op):
    kind, name = op[0], op[1]
    if kind == "create":
        files[name] = bytearray()
    elif kind == "otrunc":
        files[name] = bytearray()
    elif kind == "pwrite":
        f, off, data = files[name], op[2], op[3]
        if len(f) < off:
            f.extend(bytes(off - len(f)))
        f[off:off + len(data)] = data
    elif kind == "append":
        files[name].extend(op[2])
    elif kind == "truncate":
        f, size = files[name], op[2]
        if size < len(f):
            del f[size:]
        else:
            f.extend(bytes(size - len(f)))
    elif kind == "rename":
        files[op[2]] = files.pop(name)
    elif kind == "unlink":
        del files[name]


def mutates(op):
    return op[0] not in ("fsync", "fsyncdir")


def ops(seed):
    """Yields (n, op, files after it) for the mutating ops, and (n, op,
    None) for the syncs (n: the last mutating op before them)."""
    rng = random.Random(seed)
    files, n = {}, 0
    while True:
        op = next_op(rng, files, n + 1)
        if mutates(op):
            n += 1
            apply(files, op)
            yield n, op, files
        else:
            yield n, op, None


def perform(d, op):
    kind, p = op[0], os.path.join(d, op[1])
    if kind == "create":
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif kind == "otrunc":
        os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    elif kind in ("pwrite", "append"):
        flags = os.O_WRONLY | (os.O_APPEND if kind == "append" else 0)
        fd = os.open(p, flags)
        try:
            data = op[-1]
            off = op[2] if kind == "pwrite" else 0
            w = os.pwrite(fd, data, off) if kind == "pwrite" \
                else os.write(fd, data)
            if w != len(data):
                raise OSError("short write: %d of %d" % (w, len(data)))
        finally:
            os.close(fd)
    elif kind == "truncate":
        os.truncate(p, op[2])
    elif kind == "rename":
        os.rename(p, os.path.join(d, op[2]))
    elif kind == "unlink":
        os.unlink(p)
    elif kind in ("fsync", "fsyncdir"):
        fd = os.open(p, os.O_RDONLY)
        try:
            (os.fdatasync if kind == "fsync" and op[2] else os.fsync)(fd)
        finally:
            os.close(fd)


def write(d, logpath, seed):
    os.mkdir(d)
    os.mkdir(os.path.join(d, "sub"))
    fd = os.open(os.path.dirname(d) or ".", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    lg = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(lg, b"d 0\n")
    for n, op, _ in ops(seed):
        if mutates(op):
            os.write(lg, b"s %d\n" % n)
        try:
            perform(d, op)
        except OSError as e:
            os.write(lg, b"error %d %s\n" % (n, str(e).encode()))
            sys.exit(0)
        os.write(lg, b"%s %d\n" % (b"o" if mutates(op) else b"d", n))


def read_tree(d):
    tree, dirs = {}, set()
    for root, dnames, fnames in os.walk(d):
        rel = os.path.relpath(root, d)
        for x in dnames:
            dirs.add(os.path.normpath(os.path.join(rel, x)))
        for x in fnames:
            name = os.path.normpath(os.path.join(rel, x))
            with open(os.path.join(root, x), "rb") as f:
                tree[name] = f.read()
    return tree, dirs


def same(tree, files):
    return tree.keys() == files.keys() and \
        all(tree[k] == files[k] for k in tree)


def cut_short(tree, prev, op):
    """Whether TREE is PREV with a proper prefix of write OP applied."""
    if op[0] not in ("pwrite", "append") or tree.keys() != prev.keys():
        return False
    name, data = op[1], op[-1]
    old, got = prev[name], tree[name]
    off = op[2] if op[0] == "pwrite" else len(old)
    if any(tree[k] != prev[k] for k in tree if k != name):
        return False
    k = 0
    while k < len(data) and off + k < len(got) and got[off + k] == data[k]:
        k += 1
    if k == 0 or k == len(data):
        return False
    f = bytearray(old)
    apply({name: f}, ("pwrite", name, off, data[:k]))
    return bytes(f) == got


def describe(tree, files):
    out = []
    for name in sorted(set(tree) | set(files)):
        a, b = tree.get(name), files.get(name)
        if a is None:
            out.append("%s missing (%d bytes expected)" % (name, len(b)))
        elif b is None:
            out.append("%s unexpected (%d bytes)" % (name, len(a)))
        elif a != bytes(b):
            i = next((i for i in range(min(len(a), len(b)))
                      if a[i] != b[i]), min(len(a), len(b)))
            out.append("%s differs: %d bytes, expected %d, first "
                       "difference at %d: %r" % (name, len(a), len(b), i,
                                                 a[i:i + 16]))
    return "; ".join(out)


def bounds(logpath, mode):
    lo, hi, ok = 0, 0, 0
    with open(logpath) as f:
        for line in f:
            w = line.split()
            if len(w) < 2 or not w[1].isdigit():
                continue  # a line cut short
            if w[0] == "s":
                hi = max(hi, int(w[1]))
            elif w[0] == "o":
                ok = max(ok, int(w[1]))
            elif w[0] == "d":
                lo = max(lo, int(w[1]))
    if mode == "always":
        lo = max(lo, ok)
    return lo, max(hi, lo)


def check(d, logpath, seed, mode, snap=None):
    lo, hi = bounds(logpath, mode)
    tree, dirs = read_tree(d)
    if dirs != {"sub"}:
        sys.exit("FAIL: %s: directories %s, expected only sub" % (d, dirs))
    files, best, prev = {}, None, None
    if lo == 0 and not tree:
        best = 0
    for n, op, after in ops(seed):
        if after is None:
            continue
        if n > hi or best is not None:
            break
        if n == lo + 1 and prev is None:
            prev = {}  # S(0)
        if prev is not None and cut_short(tree, prev, op):
            best = "%d, cut short in op %d" % (n - 1, n)
            break
        files = after
        if n < lo:
            continue
        if same(tree, files):
            best = n
            break
        prev = {k: bytes(v) for k, v in files.items()}
    if best is None:
        # Report against the oldest state that had to be there.
        files = {}
        for n, op, after in ops(seed):
            if after is not None and n >= lo:
                files = after
                break
        if lo == 0:
            files = {}
        sys.exit("FAIL: %s (seed %d, %s): no state S(n), %d <= n <= %d, "
                 "matches; against S(%d): %s" %
                 (d, seed, mode, lo, hi, lo, describe(tree, files)))
    print("pcut check: %s is S(%s) (durable %d, started %d): %d files, "
          "%d bytes" % (d, best, lo, hi, len(tree),
                        sum(len(v) for v in tree.values())))
    if snap:
        with open(snap, "w") as f:
            json.dump({k: hashlib.sha256(v).hexdigest()
                       for k, v in tree.items()}, f)


def recheck(d, snap):
    with open(snap) as f:
        want = json.load(f)
    tree, _ = read_tree(d)
    got = {k: hashlib.sha256(v).hexdigest() for k, v in tree.items()}
    if got != want:
        sys.exit("FAIL: %s changed since it was checked: %s" %
                 (d, sorted(set(got.items()) ^ set(want.items()))))


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "write":
        write(a[2], a[3], int(a[4]))
    elif a[1] == "check":
        check(a[2], a[3], int(a[4]), a[5], a[6] if len(a) > 6 else None)
    elif a[1] == "recheck":
        recheck(a[2], a[3])
    else:
        sys.exit("usage: see the docstring")

#!/usr/bin/env python3
"""random_ops.py MNT_FILE LOCAL_FILE [N] - applies N random writes,
truncates and reads at random offsets to a file in the mount and to a
file on a local disk, and checks every read and the final contents agree.
The seed is printed; LSM_SEED replays it."""
import os
import random
import sys

a_path, b_path = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
seed = int(os.environ.get("LSM_SEED", "0")) or random.randrange(1 << 30)
print("random_ops: seed %d (replay with LSM_SEED=%d)" % (seed, seed))
r = random.Random(seed)
CH = 64 * 1024
LIMIT = 8 * CH


def open_both():
    flags = os.O_RDWR | os.O_CREAT
    return os.open(a_path, flags, 0o644), os.open(b_path, flags, 0o644)


def offset():
    k = r.random()
    if k < 0.3:  # near a chunk boundary
        return max(0, r.randrange(1, LIMIT // CH + 1) * CH + r.randint(-3, 3))
    if k < 0.35:
        return r.randrange(1 << 34)  # far out: sparse
    return r.randrange(LIMIT)


def length():
    k = r.random()
    if k < 0.5:
        return r.randint(0, 100)
    if k < 0.8:
        return r.randint(0, 2 * CH + 10)
    return r.randint(0, 3 * CH)


fa, fb = open_both()
for i in range(n):
    op = r.random()
    if op < 0.45:
        off, data = offset(), os.urandom(length())
        assert os.pwrite(fa, data, off) == os.pwrite(fb, data, off)
    elif op < 0.55:
        size = r.choice([0, r.randrange(LIMIT), offset()])
        os.ftruncate(fa, size)
        os.ftruncate(fb, size)
    elif op < 0.95:
        off, ln = offset(), length()
        x, y = os.pread(fa, ln, off), os.pread(fb, ln, off)
        assert x == y, "op %d: read %d@%d differs (seed %d)" % (i, ln, off, seed)
    elif op < 0.97:
        os.fsync(fa)
    else:
        os.close(fa)
        os.close(fb)
        fa, fb = open_both()
    assert os.fstat(fa).st_size == os.fstat(fb).st_size, "op %d: size" % i
size = os.fstat(fb).st_size
pos = 0
while pos < size:  # compare everything, skipping far holes quickly
    ln = min(1 << 20, size - pos)
    assert os.pread(fa, ln, pos) == os.pread(fb, ln, pos), "final @%d" % pos
    pos += ln if size < (64 << 20) else max(ln, (size - pos) // 64)
os.close(fa)
os.close(fb)
print("random_ops: %d operations agree" % n)

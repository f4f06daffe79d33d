#!/usr/bin/env python3
"""seq_tool.py - the sequence-numbered writer and the prefix checker of
the replication tests.

  write DIR LOG [N]   creates DIR/000001, DIR/000002, ... in order, each
                      holding its own number; after each close returns,
                      appends its number to LOG (acknowledged).  Runs
                      until N files, killed, or a call fails.
  poll DIR SECONDS STOPFILE
                      reads DIR again and again for SECONDS (or until
                      STOPFILE exists) and fails at once unless it
                      holds a prefix: files 1..k, each with its number,
                      except that the last may be empty (created, not yet
                      written).  Prints the largest k seen.
  check DIR           one such look; prints k."""
import os
import sys
import time


def look(d, partial=None):
    try:
        names = sorted(n for n in os.listdir(d) if n.isdigit())
    except FileNotFoundError:
        return 0
    nums = [int(n) for n in names]
    if nums != list(range(1, len(nums) + 1)):
        missing = sorted(set(range(1, (max(nums) if nums else 0) + 1)) - set(nums))
        raise SystemExit(f"not a prefix: {len(nums)} files, missing {missing[:10]}")
    for i, n in enumerate(nums):
        try:
            with open(os.path.join(d, "%06d" % n)) as f:
                data = f.read()
        except FileNotFoundError:
            raise SystemExit(f"file {n} vanished while reading a prefix")
        if data == "%d\n" % n:
            continue
        if data == "" and i == len(nums) - 1:
            if partial is not None:
                partial.append(n)
            continue
        raise SystemExit(f"file {n} holds {data!r}")
    return len(nums)


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        d, log = sys.argv[2], sys.argv[3]
        n = int(sys.argv[4]) if len(sys.argv) > 4 else 10 ** 9
        os.makedirs(d, exist_ok=True)
        partial = []
        start = look(d, partial) + 1
        if partial:  # created, never written (a crash): write it now
            start = partial[0]
        # relative to a descriptor of DIR: once its mount is gone every
        # call fails, rather than going on in the directory beneath
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        with open(log, "a", buffering=1) as lf:
            for i in range(start, n + 1):
                fd = os.open("%06d" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o644, dir_fd=dfd)
                os.write(fd, b"%d\n" % i)
                os.close(fd)
                lf.write("%d\n" % i)
    elif cmd == "poll":
        d, secs, stop = sys.argv[2], float(sys.argv[3]), sys.argv[4]
        end = time.time() + secs
        best = 0
        while time.time() < end and not os.path.exists(stop):
            try:
                best = max(best, look(d))
            except OSError as e:
                # a follower may report an error for a moment while the
                # primary restarts; never wrong bytes
                if e.errno not in (5, 116):
                    raise
            time.sleep(0.02)
        print(best)
    elif cmd == "check":
        print(look(sys.argv[2]))


main()

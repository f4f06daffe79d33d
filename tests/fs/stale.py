#!/usr/bin/env python3
"""stale.py race|verify DIR - a listing must never bring back a name that
was removed while it ran.

race: fills DIR with many files, holds one open (a child process), and
starts listing DIR (readdirplus: the daemon hands the kernel attributes
with each entry).  Part-way through the listing another process unlinks
the held file and renames another one away; the listing goes on to the
end.  Neither old name may resolve afterwards.  Then the unlinked name is
made again with open(O_CREAT|O_TRUNC), written, fsynced and closed (as an
editor or a log writer would), and the held file is let go.
verify (after a remount): that file holds the data written."""
import os
import subprocess
import sys

N = 3000
VICTIM = "f%05d" % (2 * N // 3)      # listed late: after the unlink
MOVED = "f%05d" % (2 * N // 3 + 100)
DATA = b"written after the unlink, fsynced\n" * 64


def p(*names):
    return os.path.join(sys.argv[2], *names)


PROBLEMS = []


def expect_enoent(name, what):
    """Notes (and goes on: the write that follows shows the damage) when
    NAME still resolves."""
    try:
        st = os.stat(p(name))
    except FileNotFoundError:
        return
    PROBLEMS.append("%s: %s still resolves (ino %d, nlink %d)" %
                    (name, what, st.st_ino, st.st_nlink))


def race():
    os.mkdir(p())
    for i in range(N):
        with open(p("f%05d" % i), "wb") as f:
            f.write(b"old %d\n" % i)
    # The holder keeps the victim open, so its unlink leaves an orphan.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; f = open(sys.argv[1], 'rb'); print('held', flush=True);"
         " sys.stdin.read()", p(VICTIM)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"held\n"
    seen = 0
    with os.scandir(p()) as it:
        for _ in it:
            seen += 1
            if seen == 5:
                subprocess.run(["rm", p(VICTIM)], check=True)
                subprocess.run(["mv", p(MOVED), p("moved")], check=True)
    assert seen >= N - 2, seen
    expect_enoent(VICTIM, "unlinked during a listing")
    expect_enoent(MOVED, "renamed away during a listing")
    fd = os.open(p(VICTIM), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    assert os.write(fd, DATA) == len(DATA)
    os.fsync(fd)
    os.close(fd)
    holder.stdin.close()
    holder.wait()
    # Once the orphan is gone the name must still hold the new data.
    with open(p(VICTIM), "rb") as f:
        assert f.read() == DATA, "data lost right after close"
    assert not PROBLEMS, "; ".join(PROBLEMS)


def verify():
    try:
        with open(p(VICTIM), "rb") as f:
            got = f.read()
    except FileNotFoundError:
        got = None
    assert got == DATA, "fsynced data lost across a remount: %r" % got
    with open(p("moved"), "rb") as f:
        assert f.read() == b"old %d\n" % (2 * N // 3 + 100)
    expect_enoent(MOVED, "renamed away")
    assert not PROBLEMS, "; ".join(PROBLEMS)
    assert len(os.listdir(p())) == N


if __name__ == "__main__":
    {"race": race, "verify": verify}[sys.argv[1]]()

#!/usr/bin/env python3
"""crash_writer.py write MNT LOG | check MNT LOG - the crash test's two
halves.  `write` loops until killed: it replaces files atomically (temp
file, fsync, rename, fsync of the directory) and appends fixed 4 KiB
records to a journal file (each fsynced), logging to LOG (on a local disk,
fsynced) what it starts and what is durable.  `check`, after a remount,
asserts each file holds its last durable version or the one started after
it, and the journal holds every durable record, whole and in order."""
import hashlib
import os
import sys

FILES = ["f%d" % i for i in range(4)]
REC = 4096


def content(name, seq):
    h = hashlib.sha256(("%s:%d" % (name, seq)).encode()).digest()
    return h * ((seq * 7919) % 6000 + 1)  # 32 B .. 192 KB


def record(k):
    return (b"%08d" % k) * (REC // 8)


def log(fd, line):
    os.write(fd, (line + "\n").encode())
    os.fsync(fd)


def write(mnt, logpath):
    lg = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    dfd = os.open(mnt, os.O_RDONLY)
    jfd = os.open(os.path.join(mnt, "journal"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    seq, k = 0, 0
    while True:
        seq += 1
        name = FILES[seq % len(FILES)]
        log(lg, "start %s %d" % (name, seq))
        tmp = os.path.join(mnt, name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, content(name, seq))
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(mnt, name))
        os.fsync(dfd)
        log(lg, "done %s %d" % (name, seq))
        os.write(jfd, record(k))
        os.fsync(jfd)
        k += 1
        log(lg, "journal %d" % k)


def check(mnt, logpath):
    done, started, journal = {}, {}, 0
    with open(logpath) as f:
        for line in f:
            w = line.split()
            if len(w) == 3 and w[0] == "done":
                done[w[1]] = int(w[2])
            elif len(w) == 3 and w[0] == "start":
                started[w[1]] = int(w[2])
            elif len(w) == 2 and w[0] == "journal":
                journal = int(w[1])
    for name in FILES:
        path = os.path.join(mnt, name)
        if name not in done:
            continue
        ok = {content(name, done[name])}
        if started.get(name, 0) > done[name]:
            ok.add(content(name, started[name]))
        data = open(path, "rb").read()
        assert data in ok, "%s: %d bytes, not a durable version (done %d)" % (
            name, len(data), done[name])
    data = open(os.path.join(mnt, "journal"), "rb").read() \
        if journal else b""
    assert len(data) % REC == 0, "journal: torn record (%d bytes)" % len(data)
    assert len(data) // REC >= journal, "journal: lost records"
    for k in range(len(data) // REC):
        assert data[k * REC:(k + 1) * REC] == record(k), "journal rec %d" % k
    print("crash check: %d files, %d journal records durable and intact" %
          (len(done), journal))


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2], sys.argv[3])

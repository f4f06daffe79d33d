#!/usr/bin/env python3
"""posix_compare.py LOCAL MNT [SCENARIO...] - runs the same calls in a
directory of a local filesystem (ext4 or tmpfs) and in a mounted lsmfs and
compares what they return: results and errno, stat fields (type and mode,
links, owner, size, rdev; not inode numbers, block counts or times, which
differ by nature), contents, xattrs and ACLs, SEEK_DATA/SEEK_HOLE maps,
and which directory times an operation changed.  The few differences
lsmfs must have are listed in KNOWN, each with its reason (README,
"Limitations"); any other difference fails.  Needs root (devices,
owners, ACL enforcement through another uid)."""
import ctypes
import errno
import hashlib
import os
import stat
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_int64]
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
FL_KEEP, FL_PUNCH, FL_COLLAPSE, FL_ZERO, FL_INSERT = 1, 2, 8, 16, 32
BLK = 4096


def err_name(e):
    return errno.errorcode.get(e, str(e))


def call(fn, *a):
    """('ok', value) or ('err', 'ENAME')."""
    try:
        return ("ok", fn(*a))
    except OSError as x:
        return ("err", err_name(x.errno))


def c_call(fn, *a):
    r = fn(*a)
    return ("ok", r) if r >= 0 else ("err", err_name(ctypes.get_errno()))


def fallocate(fd, mode, off, n):
    return c_call(libc.fallocate, fd, mode, off, n)


def renameat2(a, b, flags):
    return c_call(libc.renameat2, AT_FDCWD, a.encode(), AT_FDCWD,
                  b.encode(), flags)


def linkat_fd(fd, name):
    return c_call(libc.linkat, AT_FDCWD, ("/proc/self/fd/%d" % fd).encode(),
                  AT_FDCWD, name.encode(), AT_SYMLINK_FOLLOW)


def st(path, follow=False):
    try:
        s = os.stat(path) if follow else os.lstat(path)
    except OSError as x:
        return ("err", err_name(x.errno))
    return fst(s)


def fst(s):
    d = {"mode": oct(s.st_mode), "nlink": s.st_nlink, "uid": s.st_uid,
         "gid": s.st_gid}
    if not stat.S_ISDIR(s.st_mode):
        d["size"] = s.st_size
    if stat.S_ISCHR(s.st_mode) or stat.S_ISBLK(s.st_mode):
        d["rdev"] = (os.major(s.st_rdev), os.minor(s.st_rdev))
    return d


def digest(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as x:
        return ("err", err_name(x.errno))
    return (len(data), hashlib.sha256(data).hexdigest()[:16])


def seekmap(fd, size, extra=()):
    offs = sorted(set(list(range(0, size + BLK, BLK)) + [size, size + 1] +
                      list(extra)))
    out = []
    for o in offs:
        for w in (os.SEEK_DATA, os.SEEK_HOLE):
            out.append((o, w, call(os.lseek, fd, o, w)))
    return out


def xattrs(path):
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError as x:
        return ("err", err_name(x.errno))
    return [(n, os.getxattr(path, n, follow_symlinks=False)) for n in names]


def getfacl(path):
    r = subprocess.run(["getfacl", "-n", "-p", path], capture_output=True,
                       text=True)
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith("#")]
    return (r.returncode, lines)


# ---- scenarios: each takes a fresh empty directory and returns records --


def sc_dirtimes(d):
    """Which of the parent's times each operation changes."""
    out = []
    T = 1_000_000_000_000_000_000
    os.mkdir(os.path.join(d, "sub"))
    open(os.path.join(d, "old"), "w").close()

    def P(n):
        return os.path.join(d, n)

    def tmpfile():
        fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
        os.close(fd)

    def create_new():
        os.close(os.open(P("new"), os.O_CREAT | os.O_WRONLY, 0o644))

    def create_old():
        os.close(os.open(P("old"), os.O_CREAT | os.O_WRONLY, 0o644))

    ops = [
        ("mkdir", lambda: os.mkdir(P("dir"))),
        ("mkdir-exists", lambda: os.mkdir(P("dir"))),
        ("mkfifo", lambda: os.mkfifo(P("fifo"))),
        ("mknod-chr", lambda: os.mknod(P("chr"), stat.S_IFCHR | 0o600,
                                       os.makedev(1, 3))),
        ("mknod-blk", lambda: os.mknod(P("blk"), stat.S_IFBLK | 0o600,
                                       os.makedev(7, 0))),
        ("mknod-reg", lambda: os.mknod(P("reg"), stat.S_IFREG | 0o600)),
        ("create-new", create_new),
        ("create-existing", create_old),
        ("symlink", lambda: os.symlink("target", P("sym"))),
        ("link", lambda: os.link(P("old"), P("hard"))),
        ("link-exists", lambda: os.link(P("old"), P("hard"))),
        ("tmpfile", tmpfile),
        ("unlink", lambda: os.unlink(P("hard"))),
        ("rmdir", lambda: os.rmdir(P("dir"))),
        ("rename", lambda: os.rename(P("new"), P("new2"))),
        ("rename-into-sub", lambda: os.rename(P("new2"), P("sub/n"))),
    ]
    for name, fn in ops:
        os.utime(d, ns=(T, T))
        c0 = os.stat(d).st_ctime_ns
        time.sleep(0.02)
        r = call(fn)
        s = os.stat(d)
        out.append((name, r, "mtime" if s.st_mtime_ns != T else "-",
                    "ctime" if s.st_ctime_ns != c0 else "-"))
    out.append(("entries", sorted(os.listdir(d))))
    for n in sorted(os.listdir(d)):
        out.append((n, st(P(n))))
    return out


def sc_acl(d):
    out = []
    old = os.umask(0o022)
    try:
        out += acl_steps(d)
    finally:
        os.umask(old)
    return out


def as_user(uid, fn):
    """Runs FN in a child with uid/gid UID and no groups: its result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            res = repr(call(fn))
        except BaseException as x:  # report, never escape the child
            res = repr(("child", str(x)))
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        data += b
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


def acl_steps(d):
    out = []

    def P(*n):
        return os.path.join(d, *n)

    def sh(*cmd):
        r = subprocess.run(list(cmd), capture_output=True, text=True)
        return (r.returncode, r.stderr.replace(d, "D").strip())

    os.mkdir(P("a"))
    out.append(("setfacl-access", sh("setfacl", "-m", "u:1000:rwx,g:100:rx",
                                     P("a"))))
    out.append(("setfacl-default", sh("setfacl", "-d", "-m",
                                      "u:1000:rwx,g:100:r-x,o::---", P("a"))))
    os.mkdir(P("a", "sub"))
    open(P("a", "f"), "w").close()
    os.mkfifo(P("a", "fifo"), 0o666)
    os.symlink("f", P("a", "sym"))
    fd = os.open(P("a"), os.O_TMPFILE | os.O_RDWR, 0o666)
    out.append(("tmpfile-mode", fst(os.fstat(fd))))
    out.append(("tmpfile-acl", call(os.getxattr, fd,
                                    "system.posix_acl_access")))
    os.close(fd)
    os.umask(0o077)  # ignored where a default ACL is inherited
    os.mkdir(P("a", "sub077"))
    open(P("a", "f077"), "w").close()
    os.umask(0o022)
    for n in ("a", "a/sub", "a/f", "a/fifo", "a/sym", "a/sub077", "a/f077",
              "a/sub/../f"):
        out.append((n, st(P(n)), getfacl(P(n)), xattrs(P(n))))
    # chmod rewrites the access ACL (the mask, not the group entry)
    os.chmod(P("a", "f"), 0o640)
    out.append(("chmod-640", st(P("a", "f")), getfacl(P("a", "f"))))
    # an ACL the mode says all of is not stored; the mode follows it
    open(P("plain"), "w").close()
    out.append(("equiv", sh("setfacl", "-m", "u::rwx,g::r,o::r", P("plain")),
                st(P("plain")), xattrs(P("plain"))))
    out.append(("remove-all", sh("setfacl", "-b", P("a", "f")),
                st(P("a", "f")), xattrs(P("a", "f"))))
    out.append(("default-on-file", sh("setfacl", "-d", "-m", "u::rwx",
                                      P("plain"))))
    out.append(("remove-default", sh("setfacl", "-k", P("a")), xattrs(P("a"))))
    # the kernel enforces: user 1000 may write through its ACL entry
    open(P("g"), "w").close()
    os.chmod(P("g"), 0o600)
    out.append(("deny-before", as_user(1000, lambda: open(P("g"), "a")
                                       .close())))
    out.append(("grant", sh("setfacl", "-m", "u:1000:rw", P("g"))))
    out.append(("allow-after", as_user(1000, lambda: open(P("g"), "a")
                                       .close())))
    out.append(("mask-limits", sh("setfacl", "-m", "m::r", P("g")),
                as_user(1000, lambda: open(P("g"), "a").close())))
    out.append(("raw-invalid", call(os.setxattr, P("g"),
                                    "system.posix_acl_access", b"\x02\0\0\0"
                                    b"\x01\0\x07\0\xff\xff\xff\xff")))
    out.append(("g", st(P("g")), getfacl(P("g"))))
    return out


def sc_tmpfile(d):
    out = []

    def P(n):
        return os.path.join(d, n)

    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
    out.append(("fstat", fst(os.fstat(fd))))
    os.pwrite(fd, b"x" * 100000, 0)
    out.append(("entries-unnamed", sorted(os.listdir(d))))
    out.append(("linkat", linkat_fd(fd, P("named"))))
    out.append(("named", st(P("named")), digest(P("named"))))
    out.append(("linkat-again", linkat_fd(fd, P("named2"))))
    out.append(("linkat-exists", linkat_fd(fd, P("named"))))
    out.append(("nlink", fst(os.fstat(fd))))
    os.close(fd)
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
    os.write(fd, b"excl")
    out.append(("excl-linkat", linkat_fd(fd, P("excl"))))
    os.close(fd)
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
    os.write(fd, b"gone")
    os.close(fd)
    out.append(("rdonly", call(os.open, d, os.O_TMPFILE | os.O_RDONLY)))
    out.append(("on-file", call(os.open, P("named"),
                                os.O_TMPFILE | os.O_RDWR)))
    out.append(("entries", sorted(os.listdir(d))))
    return out


def write_layout(path, size, pieces):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)
    for off, n, ch in pieces:
        os.pwrite(fd, ch * n, off)
    return fd


def sc_seek(d):
    out = []
    K = 1024
    layouts = {
        "sparse": (1 << 20, [(64 * K, 16 * K, b"a"), (200000, 100, b"b"),
                             (512 * K, 4 * K, b"c"), ((1 << 20) - 4 * K,
                                                      4 * K, b"d")]),
        "empty": (0, []),
        "full": (100000, [(0, 100000, b"f")]),
        "tail-hole": (300 * K, [(0, 40 * K, b"t")]),
        "small": (5000, [(4096, 904, b"s")]),
    }
    for name, (size, pieces) in layouts.items():
        fd = write_layout(os.path.join(d, name), size, pieces)
        out.append((name, seekmap(fd, size, (70000, 200050, 81920))))
        os.close(fd)
    fd = os.open(os.path.join(d, "full"), os.O_RDWR)
    out.append(("punch", fallocate(fd, FL_PUNCH | FL_KEEP, 16 * K, 32 * K),
                seekmap(fd, 100000)))
    os.close(fd)
    return out


def sc_fallocate(d):
    out = []
    K = 1024
    cases = [
        ("extend", 0, 100 * K, 50 * K),
        ("extend-inside", 0, 4 * K, 8 * K),
        ("keep-past-eof", FL_KEEP, 200 * K, 64 * K),
        ("punch-aligned", FL_PUNCH | FL_KEEP, 16 * K, 32 * K),
        ("punch-unaligned", FL_PUNCH | FL_KEEP, 1000, 70000),
        ("punch-past-eof", FL_PUNCH | FL_KEEP, 120 * K, 64 * K),
        ("punch-no-keep", FL_PUNCH, 0, 4 * K),
        ("zero-aligned", FL_ZERO, 16 * K, 32 * K),
        ("zero-unaligned", FL_ZERO, 1000, 70000),
        ("zero-extend", FL_ZERO, 100 * K, 64 * K),
        ("zero-keep-past-eof", FL_ZERO | FL_KEEP, 100 * K, 64 * K),
        ("zero-punch", FL_ZERO | FL_PUNCH | FL_KEEP, 0, 4 * K),
        ("zero-len0", FL_ZERO, 0, 0),
        ("collapse", FL_COLLAPSE, 16 * K, 8 * K),
        ("collapse-unaligned", FL_COLLAPSE, 1000, 4 * K),
        ("collapse-to-eof", FL_COLLAPSE, 64 * K, 64 * K),
        ("insert", FL_INSERT, 8 * K, 12 * K),
        ("insert-at-eof", FL_INSERT, 128 * K, 4 * K),
        ("collapse-keep", FL_COLLAPSE | FL_KEEP, 0, 4 * K),
    ]
    for name, mode, off, n in cases:
        p = os.path.join(d, name)
        fd = write_layout(p, 128 * K, [(0, 128 * K, b"q")])
        for i in range(0, 128 * K, 4000):  # not all one byte
            os.pwrite(fd, b"%07d" % i, i)
        ORIGINAL["lsmfs" if d.startswith(MNT) else "local"] = digest(p)
        r = fallocate(fd, mode, off, n)
        size = os.fstat(fd).st_size
        rec = [name, r, fst(os.fstat(fd)), digest(p)]
        if name in ("extend", "keep-past-eof", "punch-aligned",
                    "zero-aligned", "zero-extend", "collapse", "insert"):
            rec.append(seekmap(fd, size))
        out.append(tuple(rec))
        os.close(fd)
    return out


def sc_whiteout(d):
    out = []

    def P(n):
        return os.path.join(d, n)

    for n in ("a", "b", "c", "x"):
        with open(P(n), "w") as f:
            f.write(n * 10)
    os.mkdir(P("dir"))
    open(P("dir/inner"), "w").close()
    out.append(("plain", renameat2(P("a"), P("a2"), RENAME_WHITEOUT)))
    out.append(("over", renameat2(P("b"), P("c"), RENAME_WHITEOUT)))
    out.append(("exchange", renameat2(P("x"), P("c"),
                                      RENAME_WHITEOUT | RENAME_EXCHANGE)))
    out.append(("noreplace", renameat2(P("x"), P("c"),
                                       RENAME_WHITEOUT | RENAME_NOREPLACE)))
    out.append(("noreplace-new", renameat2(P("x"), P("x2"),
                                           RENAME_WHITEOUT |
                                           RENAME_NOREPLACE)))
    out.append(("missing", renameat2(P("nope"), P("z"), RENAME_WHITEOUT)))
    out.append(("dir", renameat2(P("dir"), P("dir2"), RENAME_WHITEOUT)))
    out.append(("onto-whiteout", renameat2(P("x2"), P("a"), 0)))
    out.append(("parent", st(d)))
    for n in sorted(os.listdir(d)):
        out.append((n, st(P(n)), digest(P(n)) if os.path.isfile(P(n))
                    else None))
    out.append(("dir2", sorted(os.listdir(P("dir2")))))
    return out


def sc_xattr(d):
    out = []
    p = os.path.join(d, "f")
    open(p, "w").close()
    out.append(("name-256", call(os.setxattr, p, "user." + "n" * 251, b"v")))
    out.append(("name-255", call(os.setxattr, p, "user." + "n" * 250, b"v")))
    out.append(("value-65537", call(os.setxattr, p, "user.big",
                                    b"v" * 65537)))
    out.append(("create-exists", call(os.setxattr, p, "user." + "n" * 250,
                                      b"w", os.XATTR_CREATE)))
    out.append(("replace-missing", call(os.setxattr, p, "user.none", b"w",
                                        os.XATTR_REPLACE)))
    out.append(("system-other", call(os.setxattr, p, "system.foo", b"w")))
    q = os.path.join(d, "many")
    open(q, "w").close()
    n, r = 0, ("ok", None)
    while r[0] == "ok" and n < 20000:
        r = call(os.setxattr, q, "user.%0195d" % n, b"")
        n += 1
    out.append(("many-stops", r))
    names = call(os.listxattr, q)
    out.append(("list-after", names[0]))
    total = sum(len(x) + 1 for x in names[1]) if names[0] == "ok" else -1
    out.append(("list-within-64k", total <= 65536))
    g = subprocess.run(["getfattr", "-d", q], capture_output=True)
    out.append(("getfattr-d", g.returncode))
    out.append(("replace-at-cap", call(os.setxattr, q, "user.%0195d" % 0,
                                       b"new")))
    out.append(("remove-then-add", call(os.removexattr, q,
                                        "user.%0195d" % 1),
                call(os.setxattr, q, "user.%0195d" % 1, b"")))
    INFO.append(("xattr names accepted, %s" % d, n - 1))
    return out


SCENARIOS = {
    "dirtimes": sc_dirtimes,
    "acl": sc_acl,
    "tmpfile": sc_tmpfile,
    "seek": sc_seek,
    "fallocate": sc_fallocate,
    "whiteout": sc_whiteout,
    "xattr": sc_xattr,
}

ORIGINAL = {}  # fallocate: digest of the untouched layout, by root


def refused_unchanged(local, mine):
    """lsmfs: EOPNOTSUPP, and the file as it was."""
    return mine[1][0] == "err" and mine[1][1] in ("EOPNOTSUPP", "ENOTSUP") \
        and mine[3] == ORIGINAL.get("lsmfs")


def same_but_seekmap(local, mine):
    """All the same but the SEEK map: lsmfs stores nothing for a range
    fallocate reserves or zeroes, so it is a hole there; ext4 reports its
    unwritten extents as data.  lsmfs's map must be consistent with the
    contents: no data reported where none was written."""
    return local[:-1] == mine[:-1]


REFUSED = ("kernel FUSE refuses COLLAPSE_RANGE and INSERT_RANGE before "
           "the daemon sees them (fs/fuse/file.c)", refused_unchanged)
UNWRITTEN = ("reserved or zeroed ranges are holes on lsmfs, unwritten "
             "extents (data) on ext4", same_but_seekmap)
# (scenario, record label) -> (why lsmfs differs, what it must do instead).
# README's "Limitations" says the same.
KNOWN = {
    ("fallocate", "collapse"): REFUSED,
    ("fallocate", "collapse-unaligned"): REFUSED,
    ("fallocate", "collapse-to-eof"): REFUSED,
    ("fallocate", "insert"): REFUSED,
    ("fallocate", "insert-at-eof"): REFUSED,
    ("fallocate", "extend"): UNWRITTEN,
    ("fallocate", "zero-aligned"): UNWRITTEN,
    ("fallocate", "zero-extend"): UNWRITTEN,
}
INFO = []


def short(r, limit=600):
    t = repr(r)
    return t if len(t) <= limit else t[:limit] + "..."


def compare(name, a, b):
    bad = 0
    if len(a) != len(b):
        print("%s: %d records locally, %d on lsmfs" % (name, len(a), len(b)))
        return 1
    for ra, rb in zip(a, b):
        if ra == rb:
            continue
        label = ra[0] if isinstance(ra, tuple) else "?"
        known = KNOWN.get((name, label))
        if known and known[1](ra, rb):
            print("%s/%s: differs as documented: %s" % (name, label,
                                                        known[0]))
            continue
        print("MISMATCH %s/%s:" % (name, label))
        for i, (x, y) in enumerate(zip(ra, rb)):
            if x != y:
                print("  field %d local: %s\n  field %d lsmfs: %s"
                      % (i, short(x), i, short(y)))
        bad += 1
    return bad


MNT = "/nonexistent"


def main():
    global MNT
    local, mnt = sys.argv[1], sys.argv[2]
    MNT = mnt
    names = sys.argv[3:] or list(SCENARIOS)
    bad = 0
    for name in names:
        res = []
        for root in (local, mnt):
            d = os.path.join(root, name)
            os.mkdir(d)
            res.append(SCENARIOS[name](d))
        n = compare(name, res[0], res[1])
        print("%s: %d records, %s" % (name, len(res[0]),
                                      "same" if n == 0 else "%d differ" % n))
        bad += n
    for label, v in INFO:
        print("info: %s: %s" % (label, v))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

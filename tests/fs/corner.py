#!/usr/bin/env python3
"""corner.py MNT - corner cases of a mounted lsmfs that shell tools do not
reach: I/O at offsets around chunk boundaries, truncation, sparse files up
to 16 GiB, rename over files and directories (atomic under a concurrent
reader), concurrent writers, xattrs, symlinks, unlink of an open file,
many files in one directory, a deep tree."""
import errno
import os
import random
import sys
import threading

M = sys.argv[1]
CH = 64 * 1024
rnd = random.Random(int(os.environ.get("LSM_SEED", "0")) or None)


def p(*names):
    return os.path.join(M, *names)


def expect_err(e, fn, *a):
    try:
        fn(*a)
    except OSError as x:
        assert x.errno == e, (fn.__name__, a, x)
        return
    raise AssertionError("%s%r succeeded" % (fn.__name__, a))


def test_offsets():
    fd = os.open(p("off"), os.O_RDWR | os.O_CREAT, 0o644)
    model = bytearray()
    for off, n in [(0, 10), (CH - 5, 10), (CH, CH), (3 * CH - 1, 2),
                   (5, 3 * CH), (10 * CH + 7, 1)]:
        data = os.urandom(n)
        assert os.pwrite(fd, data, off) == n
        if len(model) < off + n:
            model.extend(b"\0" * (off + n - len(model)))
        model[off:off + n] = data
    for off, n in [(0, len(model)), (CH - 1, 2), (2 * CH + 3, CH),
                   (len(model) - 1, 10), (len(model) + 5, 10)]:
        assert os.pread(fd, n, off) == bytes(model[off:off + n]), (off, n)
    os.ftruncate(fd, CH + 1)
    del model[CH + 1:]
    os.ftruncate(fd, 3 * CH)
    model.extend(b"\0" * (3 * CH - len(model)))
    assert os.pread(fd, 4 * CH, 0) == bytes(model)
    os.close(fd)


def test_sparse():
    fd = os.open(p("sparse"), os.O_RDWR | os.O_CREAT, 0o644)
    big = 16 << 30
    os.pwrite(fd, b"tail", big)
    os.pwrite(fd, b"mid", 1 << 30)
    st = os.fstat(fd)
    assert st.st_size == big + 4
    assert st.st_blocks * 512 < 1 << 20, st.st_blocks
    assert os.pread(fd, 8, big - 4) == b"\0\0\0\0tail"
    assert os.pread(fd, CH, 12345) == b"\0" * CH
    assert os.pread(fd, 5, (1 << 30) - 1) == b"\0mid\0"
    os.ftruncate(fd, 1 << 30)  # drops the far chunk only
    assert os.fstat(fd).st_size == 1 << 30
    os.close(fd)
    os.unlink(p("sparse"))


def test_rename():
    for n, d in [("r1", b"one"), ("r2", b"two")]:
        with open(p(n), "wb") as f:
            f.write(d)
    os.rename(p("r1"), p("r2"))
    assert open(p("r2"), "rb").read() == b"one"
    assert not os.path.exists(p("r1"))
    os.makedirs(p("rd1", "sub"))
    os.mkdir(p("rd2"))
    os.rename(p("rd1"), p("rd2"))  # over an empty directory
    assert os.path.isdir(p("rd2", "sub"))
    os.mkdir(p("rd3"))
    expect_err(errno.ENOTEMPTY, os.rename, p("rd3"), p("rd2"))
    # Atomic replace under a concurrent reader: never ENOENT, never torn.
    versions = [bytes([65 + i]) * (3 * CH + i) for i in range(8)]
    with open(p("atomic"), "wb") as f:
        f.write(versions[0])
    stop = threading.Event()
    errors = []

    def reader():
        while not stop.is_set():
            try:
                with open(p("atomic"), "rb") as f:
                    d = f.read()
                if d not in versions:
                    errors.append("torn read of %d bytes" % len(d))
            except OSError as x:
                errors.append(str(x))
    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        v = versions[i % len(versions)]
        with open(p("atomic.tmp"), "wb") as f:
            f.write(v)
        os.rename(p("atomic.tmp"), p("atomic"))
    stop.set()
    t.join()
    assert not errors, errors[:3]


def test_concurrent_writers():
    fd = os.open(p("shared"), os.O_RDWR | os.O_CREAT, 0o644)
    n, per = 4, 50
    pids = []
    for w in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                wfd = os.open(p("shared"), os.O_WRONLY)
                for i in range(per):
                    off = (i * n + w) * 1000  # interleaved in chunks
                    os.pwrite(wfd, bytes([w + 1]) * 1000, off)
                os._exit(0)
            except Exception:
                os._exit(1)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    data = os.pread(fd, n * per * 1000 + 10, 0)
    assert len(data) == n * per * 1000
    for i in range(n * per):
        assert data[i * 1000:(i + 1) * 1000] == bytes([i % n + 1]) * 1000, i
    os.close(fd)
    # Threads appending to one file through O_APPEND descriptors.
    fds = [os.open(p("app"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
           for _ in range(4)]

    def app(k):
        for _ in range(100):
            os.write(fds[k], bytes([48 + k]) * 100)
    ts = [threading.Thread(target=app, args=(k,)) for k in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    [os.close(f) for f in fds]
    d = open(p("app"), "rb").read()
    assert len(d) == 4 * 100 * 100
    for k in range(4):
        assert d.count(bytes([48 + k])) == 100 * 100


def test_xattr_symlink():
    with open(p("xa"), "w") as f:
        f.write("x")
    os.setxattr(p("xa"), "user.k", b"v" * 1000)
    os.setxattr(p("xa"), "user.e", b"")
    assert os.getxattr(p("xa"), "user.k") == b"v" * 1000
    assert os.getxattr(p("xa"), "user.e") == b""
    assert sorted(os.listxattr(p("xa"))) == ["user.e", "user.k"]
    expect_err(errno.EEXIST, os.setxattr, p("xa"), "user.k", b"1",
               os.XATTR_CREATE)
    expect_err(errno.ENODATA, os.setxattr, p("xa"), "user.z", b"1",
               os.XATTR_REPLACE)
    os.removexattr(p("xa"), "user.k")
    expect_err(errno.ENODATA, os.getxattr, p("xa"), "user.k")
    target = "t" * 1000
    os.symlink(target, p("sl"))
    assert os.readlink(p("sl")) == target
    st = os.lstat(p("sl"))
    assert st.st_size == 1000 and (st.st_mode & 0o170000) == 0o120000


def test_unlink_open():
    fd = os.open(p("tmpf"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"a" * (2 * CH))
    os.unlink(p("tmpf"))
    assert not os.path.exists(p("tmpf"))
    os.pwrite(fd, b"bb", CH)
    assert os.pread(fd, 4, CH - 1) == b"abba"
    assert os.fstat(fd).st_nlink == 0
    fd2 = os.open(p("tmpf"), os.O_RDWR | os.O_CREAT, 0o644)  # new file
    assert os.fstat(fd2).st_ino != os.fstat(fd).st_ino
    os.close(fd)
    os.close(fd2)


def test_many_and_deep():
    os.mkdir(p("many"))
    names = set("f%05d" % i for i in range(3000))
    for n in names:
        open(p("many", n), "w").close()
    assert set(os.listdir(p("many"))) == names
    with os.scandir(p("many")) as it:
        assert sum(1 for e in it if e.is_file()) == 3000
    path = p("deep")
    for i in range(100):
        path = os.path.join(path, "d%d" % i)
    os.makedirs(path)
    with open(os.path.join(path, "leaf"), "w") as f:
        f.write("leaf")
    os.rename(p("deep"), p("deep2"))
    assert open(path.replace("/deep/", "/deep2/", 1) + "/leaf").read() == "leaf"


def test_listing_starts_at_first_read():
    """A listing is taken at its first read, not at opendir (ops_dir.c):
    a name created in between is listed; removing each name as it is read
    (rm's way) sees every name once and leaves the directory empty; a
    rewind lists what is there then."""
    os.mkdir(p("lazy"))
    for i in range(500):
        open(p("lazy", "g%03d" % i), "w").close()
    it = os.scandir(p("lazy"))  # opendir, nothing read yet
    open(p("lazy", "late"), "w").close()
    seen = []
    for e in it:
        seen.append(e.name)
        os.unlink(e.path)
    it.close()
    assert sorted(seen) == sorted(["g%03d" % i for i in range(500)] +
                                  ["late"]), len(seen)
    assert os.listdir(p("lazy")) == []
    fd = os.open(p("lazy"), os.O_RDONLY | os.O_DIRECTORY)
    assert os.listdir(fd) == []
    open(p("lazy", "again"), "w").close()
    assert os.listdir(fd) == ["again"]  # listdir(fd) rewinds
    os.close(fd)


def test_cached_pages():
    """Pages stay cached across opens and writes (no auto-invalidation):
    every reader, through any descriptor, sees each write once it
    returned, also after truncation and attribute refreshes."""
    a = os.open(p("cached"), os.O_RDWR | os.O_CREAT, 0o644)
    b = os.open(p("cached"), os.O_RDONLY)
    os.pwrite(a, b"x" * 20000, 0)
    assert os.pread(b, 20000, 0) == b"x" * 20000  # now in the page cache
    for i in range(50):
        os.pwrite(a, b"%04d" % i, i * 397)
        os.stat(p("cached"))  # fresh attributes: new mtime
        assert os.pread(b, 4, i * 397) == b"%04d" % i
    c = os.open(p("cached"), os.O_RDONLY)
    assert os.pread(c, 4, 49 * 397) == b"0049"
    os.ftruncate(a, 100)
    assert os.pread(b, 200, 0)[100:] == b""
    os.truncate(p("cached"), 5000)
    assert os.pread(c, 4900, 100) == bytes(4900)
    with open(p("cached"), "rb") as f:  # a new open: O_TRUNC elsewhere
        os.close(os.open(p("cached"), os.O_WRONLY | os.O_TRUNC))
        assert f.read() == b""
    for fd in (a, b, c):
        os.close(fd)


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
        print("corner: %s ok" % name)

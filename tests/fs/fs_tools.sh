#!/bin/bash
# fs_tools.sh - drives a mounted lsmfs with ordinary shell tools and checks
# the results (and errnos) are those of a local disk; remounts and checks
# that contents and inode numbers persist.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mount_fs -o allow_other
cd "$M"

# echo, >>, cat, truncate, touch -d, stat
echo hello > f
echo world >> f
[ "$(cat f)" = "$(printf 'hello\nworld')" ] || fail "echo/>>/cat"
truncate -s 3 f
[ "$(cat f)" = "hel" ] || fail "truncate down"
truncate -s 10 f
[ "$(stat -c %s f)" = 10 ] || fail "truncate up size"
[ "$(od -An -c f | tr -d ' \n')" = 'hel\0\0\0\0\0\0\0' ] || fail "truncate up zeros"
touch -d '2001-02-03 04:05:06' f
[ "$(stat -c %Y f)" = "$(date -d '2001-02-03 04:05:06' +%s)" ] || fail "touch -d"
chmod 640 f
[ "$(stat -c %a f)" = 640 ] || fail chmod

# mkdir -p, rmdir, ENOTEMPTY, links, symlinks
mkdir -p a/b/c/d
[ -d a/b/c/d ] || fail "mkdir -p"
[ "$(stat -c %h a/b)" = 3 ] || fail "dir nlink"
if rmdir a/b 2>/dev/null; then fail "rmdir of non-empty dir"; fi
rmdir a/b/c/d
ln f hard
[ "$(stat -c %h f)" = 2 ] || fail "hard link count"
[ "$(stat -c %i f)" = "$(stat -c %i hard)" ] || fail "hard link inode"
ln -s f sym
[ "$(readlink sym)" = f ] || fail readlink
[ "$(cat sym | head -c 3)" = hel ] || fail "follow symlink"
ln -s /nonexistent/target dangling
[ "$(readlink dangling)" = /nonexistent/target ] || fail "dangling symlink"

# ls -l, find, du, df
ls -l > /dev/null
[ "$(find a | sort | tr '\n' ' ')" = "a a/b a/b/c " ] || fail find
du -s . > /dev/null
df . | grep -q lsmfs || df . | tail -1 | grep -q "$M" || fail df
[ "$(df -P . | awk 'NR==2{print $2}')" -gt 0 ] || fail "df blocks"
ls -a | grep -q '^.lsmfs$' && fail "control dir listed in root"

# cp -r, diff, mv, rm -rf, tar, rsync
cp -r /usr/include/linux tree
diff -r /usr/include/linux tree
mv tree tree2
diff -r /usr/include/linux tree2
mkdir sub
mv tree2 sub/
[ -d sub/tree2 ] && [ ! -e tree2 ] || fail "mv dir"
tar -C sub -cf "$T/t.tar" tree2
mkdir untar
tar -C untar -xf "$T/t.tar"
diff -r /usr/include/linux untar/tree2
rsync -a /usr/include/linux/ rs/
diff -r /usr/include/linux rs
rsync -a --delete /usr/include/linux/netfilter/ rs/
diff -r /usr/include/linux/netfilter rs
rm -rf sub untar rs
[ ! -e sub ] || fail "rm -rf"

# editor style: write a temp file, rename it over the original
echo v1 > doc.txt
ino1=$(stat -c %i doc.txt)
echo v2 > .doc.txt.swp
mv -f .doc.txt.swp doc.txt
[ "$(cat doc.txt)" = v2 ] || fail "rename over"
[ "$(stat -c %i doc.txt)" != "$ino1" ] || fail "rename over: inode"

# git clone into the mount
if command -v git >/dev/null; then
	git init -q "$T/repo"
	(cd "$T/repo" && echo x > x && git add x &&
	 git -c user.email=t@t -c user.name=t commit -qm init)
	git clone -q "$T/repo" clone
	[ "$(cat clone/x)" = x ] || fail "git clone"
	(cd clone && git status --short | wc -l | grep -qx 0) || fail "git status"
fi

# xattrs
if command -v setfattr >/dev/null; then
	setfattr -n user.color -v blue f
	[ "$(getfattr --only-values -n user.color f)" = blue ] || fail getfattr
	setfattr -x user.color f
	if getfattr -n user.color f 2>/dev/null; then fail "removed xattr"; fi
fi

# errnos, as a local disk gives them
python3 - "$M" <<'PY'
import errno, os, sys
m = sys.argv[1]
def expect(e, fn, *a):
    try:
        fn(*a)
    except OSError as x:
        assert x.errno == e, (fn.__name__, a, x)
        return
    raise AssertionError("%s%r succeeded" % (fn.__name__, a))
expect(errno.ENOENT, os.stat, m + "/nope")
expect(errno.EEXIST, os.mkdir, m + "/a")
expect(errno.ENOTDIR, os.listdir, m + "/f")
expect(errno.ENOTDIR, os.stat, m + "/f/x")
expect(errno.EISDIR, open, m + "/a", "w")
expect(errno.ENOTEMPTY, os.rmdir, m + "/a")
expect(errno.ENAMETOOLONG, open, m + "/" + "x" * 256, "w")
expect(errno.EXDEV, os.rename, m + "/f", "/tmp/lsmfs-exdev-target")
expect(errno.ENOTDIR, os.rename, m + "/a", m + "/f")
expect(errno.EISDIR, os.rename, m + "/f", m + "/a")
expect(errno.EINVAL, os.rename, m + "/a", m + "/a/b/inside")
expect(errno.EPERM, os.link, m + "/a", m + "/alink")
expect(errno.ENOENT, os.unlink, m + "/nope")
expect(errno.EISDIR, os.unlink, m + "/a")
expect(errno.ENOTDIR, os.rmdir, m + "/f")
open(m + "/" + "y" * 255, "w").close()
os.unlink(m + "/" + "y" * 255)
PY

# ownership and permissions for another user (kernel checks modes)
if command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	mkdir pub && chmod 1777 pub
	as_nobody sh -c "echo mine > '$M/pub/n'"
	[ "$(stat -c %u:%g pub/n)" = 65534:65534 ] || fail "owner of created file"
	echo secret > private && chmod 600 private
	if as_nobody cat private 2>/dev/null; then fail "0600 readable by other"; fi
	if as_nobody sh -c "echo x > '$M/f'" 2>/dev/null; then
		fail "0640 writable by other"
	fi
	echo root > pub/r
	if as_nobody rm -f "$M/pub/r" 2>/dev/null && [ ! -e pub/r ]; then
		fail "sticky dir: other user removed root's file"
	fi
	chown 123:456 f
	[ "$(stat -c %u:%g f)" = 123:456 ] || fail chown
fi

# control directory
grep -q '^lsmfs_operations_total{op="write"}' .lsmfs/stats || fail "stats"
grep -q '^lsm_' .lsmfs/stats || fail "engine stats"
if mkdir .lsmfs 2>/dev/null; then fail "mkdir .lsmfs"; fi

# persistence across a clean remount: contents and inode numbers
ino=$(stat -c %i f)
sum=$(cat f | md5sum)
cd /
umount_fs
mount_fs -o allow_other
cd "$M"
[ "$(stat -c %i f)" = "$ino" ] || fail "inode number changed on remount"
[ "$(cat f | md5sum)" = "$sum" ] || fail "contents changed on remount"
diff -r /usr/include/linux/netfilter <(true) >/dev/null 2>&1 || true
[ "$(stat -c %h f)" = 2 ] || fail "link count after remount"
cd /
umount_fs
echo "fs_tools: OK"

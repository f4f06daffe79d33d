#!/bin/bash
# fs_snapshot.sh - MNT/.lsmfs/snapshots: mkdir takes a snapshot, rmdir
# drops it.  A snapshot's view stays byte-identical (checksums of every
# file, the listing with modes, sizes, links and xattrs) while the live
# tree is rewritten, deleted and compacted; it survives a remount and a
# kill -9 of lsmfs; tar of it while a writer runs gives its content; its
# files have their own inode numbers; every change in it is EROFS; rmdir
# then compact gives the space it pinned back (asserted on the data
# directory's bytes).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MB=$((1024 * 1024))
S=$M/.lsmfs/snapshots
RO_PID=
snap_cleanup() {
	local rc=$?
	fusermount3 -u -z "$T/ro" 2>/dev/null || true
	[ -n "$RO_PID" ] && { kill "$RO_PID" 2>/dev/null; wait "$RO_PID"; } 2>/dev/null || true
	cleanup "$rc"
}
trap snap_cleanup EXIT

store_bytes() {
	find "$D" -maxdepth 1 -type f ! -name RESERVE -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

# sums DIR: the checksum of every regular file under DIR, by path.
sums() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# listing DIR: type, mode, size (but of directories), link target and
# user xattrs of everything under DIR.
listing() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%y %m - %p\n' \) -o \
		-printf '%y %m %s %p %l\n' | sort
	 cd "$1" && getfattr -R -P -d -m 'user\.' . 2>/dev/null | grep -v '^$' || true)
}

# same_view SNAP WHAT: the snapshot SNAP shows what was saved for it.
same_view() {
	local got
	got=$(sums "$S/$1")
	[ "$got" = "$(cat "$T/sums.$1")" ] || {
		diff <(echo "$got") "$T/sums.$1" | head >&2
		fail "$2: snapshot $1 does not hold the same bytes"
	}
	got=$(listing "$S/$1")
	[ "$got" = "$(cat "$T/list.$1")" ] || {
		diff <(echo "$got") "$T/list.$1" | head >&2
		fail "$2: snapshot $1 does not list the same tree"
	}
	echo "$2: snapshot $1 unchanged ($(wc -l < "$T/sums.$1") files)"
}

# take NAME: mkdir the snapshot and save what the live tree holds now.
take() {
	sums "$M" > "$T/sums.$1"
	listing "$M" > "$T/list.$1"
	mkdir "$S/$1" || fail "mkdir $S/$1"
}

mount_fs

# --- a tree of all kinds ---
mkdir -p "$M/docs/deep/er" "$M/big" "$M/empty"
for i in $(seq 1 40); do
	printf 'file %d\n%s\n' "$i" "$(seq 1 $((i * 37)))" > "$M/docs/f$i.txt"
done
head -c $((3 * MB + 123)) /dev/urandom > "$M/docs/deep/er/odd.bin"
for i in 1 2 3 4 5 6; do
	head -c $((3 * MB)) /dev/urandom > "$M/big/b$i"
done
ln -s ../docs/f1.txt "$M/empty/link"
ln "$M/docs/f2.txt" "$M/docs/hard"
setfattr -n user.color -v blue "$M/docs/f3.txt"
setfattr -n user.dir -v yes "$M/docs/deep"
chmod 640 "$M/docs/f4.txt"
truncate -s $((5 * MB)) "$M/docs/sparse"
echo tail >> "$M/docs/sparse"

# --- mkdir takes one; ls lists it with its time ---
t0=$(date +%s)
take s1
t1=$(date +%s)
ls -l "$S" | grep -q ' s1$' || fail "ls -l of snapshots does not show s1"
mt=$(stat -c %Y "$S/s1")
[ "$mt" -ge "$t0" ] && [ "$mt" -le "$t1" ] ||
	fail "s1's mtime $mt is not its creation time ($t0..$t1)"
same_view s1 "just taken"
if mkdir "$S/s1" 2>/dev/null; then fail "a second s1 was taken"; fi
if mkdir "$S/.hidden" 2>/dev/null; then fail "a bad name was taken"; fi
if mkdir "$S/s1/new" 2>/dev/null; then fail "mkdir inside a snapshot"; fi

# --- every change inside is EROFS ---
erofs() {
	local out
	if out=$("$@" 2>&1); then fail "allowed in a snapshot: $*"; fi
	echo "$out" | grep -q "Read-only file system" ||
		fail "not EROFS: $* ($out)"
}
erofs touch "$S/s1/docs/new"
erofs sh -c "echo x > '$S/s1/docs/f1.txt'"
erofs sh -c "echo x >> '$S/s1/docs/f1.txt'"
erofs rm "$S/s1/docs/f1.txt"
erofs mv "$S/s1/docs/f1.txt" "$S/s1/docs/f1.moved"
erofs chmod 600 "$S/s1/docs/f1.txt"
erofs truncate -s 0 "$S/s1/docs/f1.txt"
erofs setfattr -n user.x -v 1 "$S/s1/docs/f1.txt"
erofs setfattr -x user.color "$S/s1/docs/f3.txt"
erofs ln -s x "$S/s1/docs/sym"
erofs ln "$S/s1/docs/f1.txt" "$S/s1/docs/f1.hard"
erofs rmdir "$S/s1/empty"

# --- the tools read it ---
[ "$(getfattr --only-values -n user.color "$S/s1/docs/f3.txt")" = blue ] ||
	fail "getfattr in the snapshot"
[ "$(readlink "$S/s1/empty/link")" = ../docs/f1.txt ] || fail "readlink"
[ "$(stat -c %a "$S/s1/docs/f4.txt")" = 640 ] || fail "mode in the snapshot"
[ "$(stat -c %h "$S/s1/docs/hard")" = 2 ] || fail "link count in the snapshot"
[ "$(du -sb "$S/s1" | cut -f1)" = "$(du -sb "$M" | cut -f1)" ] ||
	fail "du -sb of the snapshot and the tree differ"
seeks() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
      os.lseek(fd, 5 * 1048576 - 1, os.SEEK_DATA))' "$1"
}
[ "$(seeks "$S/s1/docs/sparse")" = "$(seeks "$M/docs/sparse")" ] ||
	fail "SEEK_DATA/SEEK_HOLE in the snapshot: $(seeks "$S/s1/docs/sparse")"
[ "$(seeks "$S/s1/docs/sparse" | cut -d' ' -f1)" = $((5 * MB)) ] ||
	fail "SEEK_DATA found no hole in the snapshot's sparse file"
cp -a "$S/s1" "$T/copy"
[ "$(sums "$T/copy")" = "$(cat "$T/sums.s1")" ] || fail "cp -a of the snapshot"
[ "$(stat -c %h "$T/copy/docs/hard")" = 2 ] || fail "cp -a lost the hard link"
rm -rf "$T/copy"

# --- its own inode numbers ---
find "$M" -xdev -printf '%i\n' | sort -u > "$T/live.ino"
find "$S/s1" -printf '%i\n' | sort -u > "$T/snap.ino"
[ -z "$(comm -12 "$T/live.ino" "$T/snap.ino")" ] ||
	fail "snapshot files reuse live inode numbers"
[ "$(stat -c %i "$S/s1/docs/f2.txt")" = "$(stat -c %i "$S/s1/docs/hard")" ] ||
	fail "a hard link in the snapshot has two numbers"

# --- the live tree rewritten, deleted, compacted ---
for i in $(seq 1 40); do echo "new $i" > "$M/docs/f$i.txt"; done
rm -rf "$M/docs/deep" "$M/empty"
head -c $((1 * MB)) /dev/urandom > "$M/big/b1"
setfattr -n user.color -v red "$M/docs/f3.txt"
mkdir "$M/later"; echo later > "$M/later/x"
echo compact > "$M/.lsmfs/ctl"
same_view s1 "after rewrite, delete and compact"
[ "$(cat "$M/docs/f1.txt")" = "new 1" ] || fail "the live tree lost a write"

# --- a second snapshot, kill -9, both still there ---
rm "$M"/big/b{2..6}
take s2
echo "after s2" > "$M/docs/f1.txt"
crash_fs
mount_fs
same_view s1 "after kill -9"
same_view s2 "after kill -9"
[ "$(stat -c %Y "$S/s1")" = "$mt" ] || fail "s1's time changed"

# --- remount ---
umount_fs
mount_fs
same_view s1 "after remount"
same_view s2 "after remount"
[ "$(ls "$S" | tr '\n' ' ')" = "s1 s2 " ] || fail "ls $S: $(ls "$S")"

# --- tar while a writer runs ---
(
	i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		head -c 65536 /dev/urandom > "$M/docs/f$((i % 40 + 1)).txt"
		echo "$i" > "$M/later/x"
		rm -f "$M/later/y.$((i - 5))"; echo y > "$M/later/y.$i"
	done
) &
writer=$!
sleep 0.3
tar --xattrs --xattrs-include="user.*" -C "$S/s1" -cf "$T/s1.tar" .
touch "$T/stop"
wait "$writer"
mkdir "$T/x"
tar --xattrs --xattrs-include="user.*" -C "$T/x" -xf "$T/s1.tar"
[ "$(sums "$T/x")" = "$(cat "$T/sums.s1")" ] || fail "tar of s1 under a writer"
[ "$(listing "$T/x")" = "$(cat "$T/list.s1")" ] || fail "tar of s1 listing"
rm -rf "$T/x" "$T/s1.tar"
echo "tar under a writer: s1's content"

# --- a read-only follower mount shows them, cannot change them ---
M2=$T/ro
mkdir -p "$M2"
"$LSMFS" "$D" "$M2" -f -o ro 2>>"$T/lsmfs-ro.log" &
RO_PID=$!
for _ in $(seq 1 200); do
	grep -q " $M2 fuse" /proc/mounts && break
	sleep 0.05
done
grep -q " $M2 fuse" /proc/mounts || fail "the follower did not mount"
[ "$(ls "$M2/.lsmfs/snapshots" | tr '\n' ' ')" = "s1 s2 " ] ||
	fail "the follower lists $(ls "$M2/.lsmfs/snapshots")"
[ "$(sums "$M2/.lsmfs/snapshots/s1")" = "$(cat "$T/sums.s1")" ] ||
	fail "the follower's s1 differs"
if mkdir "$M2/.lsmfs/snapshots/f" 2>/dev/null; then
	fail "a follower took a snapshot"
fi
mkdir "$S/s3"
for _ in $(seq 1 100); do
	[ -d "$M2/.lsmfs/snapshots/s3" ] && break
	sleep 0.05
done
[ -d "$M2/.lsmfs/snapshots/s3" ] || fail "the follower does not see s3"
rmdir "$S/s3"
fusermount3 -u "$M2"
wait "$RO_PID" || fail "the follower exited with $?"
RO_PID=
echo "follower: lists and reads the snapshots, takes none"

# --- space: s1 pins the big files; rmdir + compact gives it back ---
echo compact > "$M/.lsmfs/ctl"
pinned=$(store_bytes)
echo "store with s1 and s2: $pinned bytes"
grep -q '^lsm_snapshots 2$' "$M/.lsmfs/stats" || fail "stats: lsm_snapshots"
pb=$(awk '$1 == "lsm_snapshot_pinned_bytes" { print $2 }' "$M/.lsmfs/stats")
echo "lsm_snapshot_pinned_bytes $pb"
[ "$pb" -ge $((15 * MB)) ] || fail "pinned estimate $pb below the 15 MiB s1 holds alone"
rmdir "$S/s1"
[ ! -e "$S/s1" ] || fail "s1 still listed after rmdir"
echo compact > "$M/.lsmfs/ctl"
freed=$(store_bytes)
echo "after rmdir s1 and compact: $freed bytes"
[ $((pinned - freed)) -ge $((14 * MB)) ] ||
	fail "rmdir + compact freed only $((pinned - freed)) bytes of ~18 MiB"
same_view s2 "after s1 was dropped"
# a file open in a snapshot reads on after its rmdir, until closed
want=$(sha256sum < "$S/s2/big/b1")
exec 3< "$S/s2/big/b1"
rmdir "$S/s2"
echo compact > "$M/.lsmfs/ctl"
[ "$(sha256sum <&3)" = "$want" ] || fail "an open file of a dropped snapshot"
exec 3<&-
[ ! -e "$S/s2" ] || fail "s2 still there after rmdir"
echo compact > "$M/.lsmfs/ctl"
[ -z "$(ls "$S")" ] || fail "snapshots left: $(ls "$S")"
grep -q '^lsm_snapshots 0$' "$M/.lsmfs/stats" || fail "stats after drops"
umount_fs
echo "fs_snapshot: OK"

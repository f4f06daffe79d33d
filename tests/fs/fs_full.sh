#!/usr/bin/env bash
# fs_full.sh - a full disk is survivable, on a small tmpfs and on a small
# ext4 image on a loop device (ext4 may defer ENOSPC to writeback; tmpfs
# never does): fill it until writes fail with ENOSPC, check the mount is
# still writable for deletes, delete, and write again once the space is
# back, all without a remount; then remount on a still-full disk.
# Needs root (mount); skips (77) loudly where it cannot mount.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: fs_full needs root to mount a small tmpfs / ext4" >&2
	exit 77
fi
SMALL=$T/small
mkdir -p "$SMALL"
LOOPDEV=
small_cleanup() {
	umount -l "$SMALL" 2>/dev/null || true
	[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null || true
}
full_cleanup() {
	local rc=$?
	fusermount3 -u -z "$M" 2>/dev/null || true
	if [ -n "$LSMFS_PID" ]; then
		kill "$LSMFS_PID" 2>/dev/null || true
		wait "$LSMFS_PID" 2>/dev/null || true
		LSMFS_PID=
	fi
	small_cleanup
	cleanup "$rc"
}
trap full_cleanup EXIT
OPTS=memtable_size=1M,table_size=512k,reserve=4M

# fill PREFIX: writes 256 KiB files until one fails; prints the count.
fill() {
	local i=0 out
	while :; do
		if ! out=$(head -c 262144 /dev/urandom 2>/dev/null |
			   dd of="$M/$1$i" bs=64k iflag=fullblock 2>&1); then
			case "$out" in
			*"No space left"*) echo "$i"; return 0 ;;
			*) echo "fill: unexpected error: $out" >&2; return 1 ;;
			esac
		fi
		i=$((i + 1))
		[ $i -lt 2000 ] || { echo "fill: never ran out" >&2; return 1; }
	done
}

# writable_within SECS: a new file can be written within SECS seconds.
writable_within() {
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		if head -c 100000 /dev/urandom >"$M/probe" 2>/dev/null; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

run_case() {
	local kind=$1 n
	echo "== $kind"
	rm -rf "$D"
	mkdir -p "$SMALL/data"
	D=$SMALL/data
	mount_fs -o "$OPTS"
	echo keep-me >"$M/keep"
	n=$(fill f)
	echo "$kind: $n files before ENOSPC"
	[ "$n" -ge 4 ] || fail "$kind: disk full after only $n files"
	# still full for plain writes, but nothing turned read-only
	if ( echo more >"$M/extra" ) 2>"$T/err"; then
		: # a few bytes may still fit
	else
		grep -q "No space left" "$T/err" ||
			fail "$kind: a write on a full disk failed with $(cat "$T/err")"
	fi
	grep -q "^lsm_read_only 0" "$M/.lsmfs/stats" ||
		fail "$kind: the store turned read-only"
	# deletes go through; the compaction that turns them into free
	# space needs room for what stays (the reserve covers a flush and a
	# few tables: delete most of it)
	for ((i = 0; i < n; i++)); do
		[ $((i % 10)) -eq 1 ] && continue
		rm "$M/f$i" || fail "$kind: rm f$i on a full disk failed"
	done
	writable_within 40 || fail "$kind: no write succeeded 40 s after deletes"
	[ "$(cat "$M/keep")" = keep-me ] || fail "$kind: keep lost"
	for ((i = 1; i < n; i += 10)); do
		[ "$(stat -c %s "$M/f$i")" = 262144 ] ||
			fail "$kind: f$i has the wrong size"
	done
	umount_fs
	# remount on a disk that is full to the last byte
	dd if=/dev/zero of="$SMALL/filler" bs=64k 2>/dev/null || true
	mount_fs -o "$OPTS"
	[ "$(cat "$M/keep")" = keep-me ] || fail "$kind: keep lost after remount"
	rm "$M/f1" || fail "$kind: rm after a remount on a full disk failed"
	rm -f "$SMALL/filler"
	writable_within 40 || fail "$kind: not writable after the filler went"
	umount_fs
	"${LSMFS_CTL:-true}" check "$D" >"$T/check.out" ||
		{ cat "$T/check.out"; fail "$kind: check after the full disk"; }
	rm -rf "$SMALL/data"
}

if mount -t tmpfs -o size=24m lsmfs-full "$SMALL" 2>/dev/null; then
	run_case tmpfs
	umount "$SMALL"
else
	echo "SKIP part: cannot mount tmpfs" >&2
fi

if command -v mkfs.ext4 >/dev/null && command -v losetup >/dev/null; then
	truncate -s 48M "$T/ext4.img"
	mkfs.ext4 -q -F -m 0 "$T/ext4.img"
	if LOOPDEV=$(losetup -f --show "$T/ext4.img" 2>/dev/null) &&
	   mount "$LOOPDEV" "$SMALL" 2>/dev/null; then
		run_case ext4
		umount "$SMALL"
		losetup -d "$LOOPDEV"
		LOOPDEV=
	else
		echo "SKIP part: cannot mount an ext4 loop image here" >&2
	fi
fi
small_cleanup
echo "fs_full: full disks survived"

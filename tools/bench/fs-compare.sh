#!/bin/sh
# fs-compare.sh - runs the lsmfs-bench filesystem workloads side by side on
# an lsmfs mount (when the lsmfs binary exists), libfuse's passthrough_ll
# mounted over a temporary directory, that local directory itself, and
# libfuse's `null` example mounted on a file (the FUSE ceiling: it runs
# stream_write only), in one run on the same machine.  Extra arguments go
# to `lsmfs-bench fs` (e.g. --num=10000 --repeat=3 --json=out.json).
#
# Environment: BUILD (build dir, default build-bench), LSMFS_BENCH, LSMFS,
# PASSTHROUGH_LL, FUSE_NULL (binaries; found in BUILD / built when unset),
# LSMFS_OPTS (extra lsmfs options, e.g. "-o writeback"), LSMFS_BEFORE (a
# second lsmfs binary, e.g. of an older commit, mounted beside the first as
# lsmfs_before: before -> after in one run), LSMFS_BEFORE_OPTS (its
# options, LSMFS_OPTS when unset: the same binary with other options is a
# before -> after of an option), PASSTHROUGH=0 (leave
# passthrough_ll out: it holds a descriptor per inode, and a tree larger
# than the open-file limit fails there), TMPDIR, VOLUME (below).
#
# VOLUME=fresh (the default when root and losetup can): every directory
# compared (the local one, lsmfs's data directories, passthrough_ll's
# source) lives on one new ext4 made with mkfs.ext4's defaults (so with a
# journal) on a sparse image of VOLUME_SIZE (default 16G) under TMPDIR,
# attached with losetup --direct-io=on, and removed at the end; when one
# cannot be made and VOLUME is unset, the run says so and uses TMPDIR's.  The
# filesystem TMPDIR is on may have seen anything: ext4 without a journal
# skips recently freed inodes when it allocates (recently_deleted), and
# file creation there was measured at 4K to 130K files/s from one run to
# the next.  VOLUME=host puts them under TMPDIR directly, as before.
# Needs /dev/fuse and fusermount3.  Everything is unmounted and removed on
# exit, also on error or ^C.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build-bench}
bench=${LSMFS_BENCH:-$build/tools/bench/lsmfs-bench}
lsmfs=${LSMFS:-$build/fs/lsmfs}
ptll=${PASSTHROUGH_LL:-$build/passthrough/passthrough_ll}
null=${FUSE_NULL:-$(dirname "$ptll")/null}

die() { echo "fs-compare: $*" >&2; exit 1; }

[ -x "$bench" ] || die "$bench not built (ninja -C $build)"
[ -c /dev/fuse ] || die "no /dev/fuse"
command -v fusermount3 >/dev/null || die "fusermount3 not found"
if [ ! -x "$ptll" ] || [ ! -x "$null" ]; then
	"$root/tools/bench/build-passthrough.sh" "$(dirname "$ptll")" \
		>/dev/null || die "cannot build passthrough_ll"
fi

# passthrough_ll keeps a descriptor open per inode it has seen: with the
# usual soft limit of 1024 it fails after about a thousand files.
# Root may raise the hard limit (a 40K-file tree needs more than 20,000).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fs-compare.XXXXXX")
pids=""
mounts=""
loopdev=""

cleanup() {
	for m in $mounts; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true
	done
	for p in $pids; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$loopdev" ]; then
		umount "$tmp/vol" 2>/dev/null || umount -l "$tmp/vol" || true
		losetup -d "$loopdev" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# make_volume: the fresh ext4 at $tmp/vol; 1 (with a message) if any step
# fails, leaving nothing attached.
make_volume() {
	truncate -s "${VOLUME_SIZE:-16G}" "$tmp/vol.img" &&
		mkfs.ext4 -q -F "$tmp/vol.img" ||
		{ echo "fs-compare: mkfs.ext4 failed on $tmp/vol.img" >&2; return 1; }
	loopdev=$(losetup -f --show --direct-io=on "$tmp/vol.img") ||
		{ loopdev=""; echo "fs-compare: losetup failed" >&2; return 1; }
	mkdir "$tmp/vol" && mount "$loopdev" "$tmp/vol" && return 0
	echo "fs-compare: cannot mount $loopdev" >&2
	losetup -d "$loopdev" 2>/dev/null || true
	loopdev=""
	return 1
}

volume=${VOLUME:-}
case $volume in
fresh)
	make_volume || die "no fresh volume (VOLUME=host runs on TMPDIR's filesystem)"
	;;
host) ;;
"")
	# the default: a fresh volume where root can make one
	volume=host
	if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null &&
	   command -v mkfs.ext4 >/dev/null; then
		if make_volume; then
			volume=fresh
		else
			echo "fs-compare: running on TMPDIR's filesystem instead" >&2
		fi
	fi
	;;
*)
	die "VOLUME must be fresh or host, not '$volume'"
	;;
esac
base=$tmp
[ "$volume" = fresh ] && base=$tmp/vol

# wait_mounted DIR PID: until DIR is a mount point (10 s), or PID died.
wait_mounted() {
	i=0
	while ! mountpoint -q "$1"; do
		kill -0 "$2" 2>/dev/null || return 1
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
}

mkdir "$base/local" "$base/pt_src" "$tmp/pt_mnt"
dirs=""

if [ -x "$lsmfs" ]; then
	mkdir "$base/lsm_data" "$tmp/lsm_mnt"
	# shellcheck disable=SC2086
	"$lsmfs" "$base/lsm_data" "$tmp/lsm_mnt" -f ${LSMFS_OPTS:-} &
	pids="$pids $!"
	wait_mounted "$tmp/lsm_mnt" $! || die "lsmfs did not mount"
	mounts="$mounts $tmp/lsm_mnt"
	dirs="lsmfs=$tmp/lsm_mnt"
	if [ -n "${LSMFS_BEFORE:-}" ]; then
		mkdir "$base/lsm0_data" "$tmp/lsm0_mnt"
		# shellcheck disable=SC2086
		"$LSMFS_BEFORE" "$base/lsm0_data" "$tmp/lsm0_mnt" -f \
			${LSMFS_BEFORE_OPTS-${LSMFS_OPTS:-}} &
		pids="$pids $!"
		wait_mounted "$tmp/lsm0_mnt" $! ||
			die "$LSMFS_BEFORE did not mount"
		mounts="$mounts $tmp/lsm0_mnt"
		dirs="$dirs lsmfs_before=$tmp/lsm0_mnt"
	fi
else
	echo "fs-compare: $lsmfs not built: comparing passthrough_ll and" \
	     "the local disk only" >&2
fi

if [ "${PASSTHROUGH:-1}" != 0 ]; then
	"$ptll" -f -o source="$base/pt_src" "$tmp/pt_mnt" &
	pids="$pids $!"
	wait_mounted "$tmp/pt_mnt" $! || die "passthrough_ll did not mount"
	mounts="$mounts $tmp/pt_mnt"
	dirs="$dirs passthrough_ll=$tmp/pt_mnt"
fi

touch "$tmp/null_file"
"$null" -f "$tmp/null_file" &
pids="$pids $!"
wait_mounted "$tmp/null_file" $! || die "null did not mount"
mounts="$mounts $tmp/null_file"

echo "fs-compare: lsmfs $( [ -x "$lsmfs" ] && echo "$lsmfs ${LSMFS_OPTS:-}" ||
     echo absent), passthrough_ll $( [ "${PASSTHROUGH:-1}" != 0 ] &&
     echo "$ptll (default options)" || echo "left out")," \
     "local $base/local ($( [ "$volume" = fresh ] &&
     echo "a fresh ext4 on $loopdev, shared by every store" ||
     echo "TMPDIR's filesystem")), fuse_null $null (default options)"
# shellcheck disable=SC2086
"$bench" fs $dirs "local=$base/local" "fuse_null=$tmp/null_file" "$@"

# lib.sh - shared helpers of the lsmfs mount tests (sourced by bash
# scripts run with `set -euo pipefail`).  Needs LSMFS (the daemon) in the
# environment.  Exits 77 (skip), loudly, when /dev/fuse cannot be opened.
# Every mount is undone by the EXIT trap, also on failure.

if ! { exec 9<>/dev/fuse; } 2>/dev/null; then
	echo "######################################################" >&2
	echo "# SKIP: /dev/fuse cannot be opened: mount tests skipped" >&2
	echo "######################################################" >&2
	exit 77
fi
exec 9>&-

: "${LSMFS:?LSMFS must name the lsmfs binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-test.XXXXXX")
D=$T/data
M=$T/mnt
mkdir -p "$D" "$M"
chmod 755 "$T"
LSMFS_PID=

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# mount_fs [-o opts...]: mounts $D on $M in the foreground (as a child of
# this shell, so tests can kill -9 it) and waits until it serves.
# LSMFS_MOUNT_OPTS, when set, is added to every such mount's options
# (fs_uring.sh runs whole scripts with io_uring); LSMFS_EXPECT_URING=1
# then checks that the mount serves its requests over io_uring.
mount_fs() {
	"$LSMFS" "$D" "$M" -f "$@" ${LSMFS_MOUNT_OPTS:+-o "$LSMFS_MOUNT_OPTS"} \
		2>>"$T/lsmfs.log" &
	LSMFS_PID=$!
	for _ in $(seq 1 200); do
		if grep -q " $M fuse" /proc/mounts && stat "$M/." >/dev/null 2>&1
		then
			[ "${LSMFS_EXPECT_URING:-0}" = 1 ] && expect_uring "$M"
			return 0
		fi
		if ! kill -0 "$LSMFS_PID" 2>/dev/null; then
			cat "$T/lsmfs.log" >&2
			fail "lsmfs exited before mounting"
		fi
		sleep 0.05
	done
	fail "lsmfs did not mount within 10 s"
}

# expect_uring MNT: fails unless MNT has served requests over io_uring.
expect_uring() {
	local n
	n=$(awk '$1 == "lsmfs_io_uring_requests_total" { print $2 }' \
		"$1/.lsmfs/stats")
	[ "${n:-0}" -gt 0 ] ||
		fail "$1: no request served over io_uring (${n:-no counter})"
}

# umount_fs: clean unmount; waits for the daemon to exit.
umount_fs() {
	fusermount3 -u "$M"
	if [ -n "$LSMFS_PID" ]; then
		wait "$LSMFS_PID" || fail "lsmfs exited with status $?"
	fi
	LSMFS_PID=
}

# crash_fs: kill -9 the daemon and drop the dead mount.
crash_fs() {
	kill -9 "$LSMFS_PID" 2>/dev/null || true
	wait "$LSMFS_PID" 2>/dev/null || true
	LSMFS_PID=
	fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null || true
}

# cleanup [RC]: the EXIT handler; a test's own handler passes its exit
# status on as RC (not through "(exit $rc)", which under set -e would end
# the handler before anything is unmounted, leaving a daemon behind).
cleanup() {
	local rc=${1:-$?}
	set +e # whatever fails here, the rest must still run
	cd /
	if grep -q " $M fuse" /proc/mounts 2>/dev/null; then
		fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" || true
	fi
	if [ -n "$LSMFS_PID" ]; then
		kill "$LSMFS_PID" 2>/dev/null || true
		wait "$LSMFS_PID" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ] && [ -f "$T/lsmfs.log" ]; then
		echo "--- lsmfs log ---" >&2
		tail -n 50 "$T/lsmfs.log" >&2
	fi
	if [ $rc -ne 0 ] && [ -n "${LSMFS_TEST_KEEP:-}" ]; then
		echo "kept $T (LSMFS_TEST_KEEP)" >&2
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT

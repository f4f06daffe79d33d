#!/usr/bin/env bash
# fs_uring.sh - lsmfs -o io_uring (fs/uring.c) on a real mount: requests
# are served over the kernel's FUSE io_uring queues, one per CPU, and
# everything a mount must do still holds there:
#  - the largest writes and reads (the whole payload buffer), from both
#    CPUs at once, read back byte for byte, also after a remount;
#  - a reply made on another thread (a /.lsmfs/ctl compaction) reaches
#    its ring;
#  - the daemon ends cleanly at unmount, also a lazy one with readers
#    still busy, and kill -9 loses nothing that was fsynced;
#  - the kernel's FORGETs, which still come over /dev/fuse, are read
#    after a pause (-o forget_wait_us), so they arrive in batches; every
#    file removed is still reclaimed while mounted, and forget_wait_us=0
#    reads them at once;
#  - it is the default when the kernel offers it, io_uring=0 turns it
#    off; its threads run in the idle scheduling class unless
#    io_uring_idle=0; without the kernel's offer an explicit -o io_uring says so and
#    the mount serves over /dev/fuse;
#  - then whole test scripts (POSIX against the local filesystem, random
#    operations, crashes, tools, snapshots, full disks) run with every
#    mount over io_uring (lib.sh's LSMFS_MOUNT_OPTS), each mount checked
#    to serve over io_uring (LSMFS_EXPECT_URING).
# Needs Linux 6.14 or later and root: the fuse module's enable_uring
# parameter is set for the test and put back after it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PARAM=/sys/module/fuse/parameters/enable_uring
if [ ! -e "$PARAM" ] || [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: no FUSE over io_uring here (needs Linux 6.14+ and root)" >&2
	exit 77
fi
OLD=$(cat "$PARAM")
if ! echo Y >"$PARAM" 2>/dev/null; then
	echo "SKIP: cannot set $PARAM" >&2
	exit 77
fi
restore() {
	local rc=$?
	echo "$OLD" >"$PARAM" 2>/dev/null || true
	cleanup $rc
}
trap restore EXIT
DIR=$(cd "$(dirname "$0")" && pwd)

uring_count() {
	awk '$1 == "lsmfs_io_uring_requests_total" { print $2 }' \
		"$M/.lsmfs/stats"
}

# ---- the largest requests, from both CPUs at once ----
mount_fs -o io_uring
expect_uring "$M"
grep -q "requests over io_uring" "$T/lsmfs.log" || fail "no io_uring line in the log"
head -c $((48 << 20)) /dev/urandom >"$T/big"
ncpu=$(nproc)
pids=()
for c in $(seq 0 $((ncpu - 1))); do
	# 4 MiB writes: the kernel splits them into max_write requests,
	# each filling a ring entry's whole payload buffer
	taskset -c "$c" dd if="$T/big" of="$M/big$c" bs=4M \
		conv=fsync status=none &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done
for c in $(seq 0 $((ncpu - 1))); do
	taskset -c "$c" cmp "$T/big" "$M/big$c" ||
		fail "big$c differs (read on CPU $c)"
done
# small files from every CPU, the small-request path
pids=()
for c in $(seq 0 $((ncpu - 1))); do
	taskset -c "$c" bash -c "mkdir -p '$M/small$c' &&
		for i in \$(seq 1 300); do echo \"\$i $c\" > '$M/small$c/f'\$i; done" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a small-file writer failed"; done
for c in $(seq 0 $((ncpu - 1))); do
	[ "$(cat "$M/small$c/f150")" = "150 $c" ] || fail "small$c/f150"
	[ "$(ls "$M/small$c" | wc -l)" -eq 300 ] || fail "small$c: not 300 files"
done
n1=$(uring_count)
[ "$n1" -gt 1000 ] || fail "only $n1 requests over io_uring"

# ---- a reply from another thread: /.lsmfs/ctl runs compaction in a job
# thread that answers the write ----
timeout 60 sh -c "echo compact > '$M/.lsmfs/ctl'" ||
	fail "the compaction request did not come back"
cmp "$T/big" "$M/big0" || fail "big0 differs after compaction"

# ---- unmount, remount, everything there ----
umount_fs
grep -q "unmounted" "$T/lsmfs.log" || fail "no clean unmount in the log"
mount_fs -o io_uring
for c in $(seq 0 $((ncpu - 1))); do
	cmp "$T/big" "$M/big$c" || fail "big$c differs after a remount"
done

# ---- a lazy unmount under readers: the daemon still ends ----
( while cat "$M/big0" >/dev/null 2>&1; do :; done ) &
reader=$!
sleep 0.5
fusermount3 -u -z "$M"
for _ in $(seq 1 200); do
	kill -0 "$LSMFS_PID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$LSMFS_PID" 2>/dev/null && fail "lsmfs still running 10 s after a lazy unmount"
wait "$LSMFS_PID" || fail "lsmfs exited with status $? after a lazy unmount"
LSMFS_PID=
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true

# ---- kill -9 in the middle of writes: what was fsynced is there ----
mount_fs -o io_uring
# the writer notes each fsynced record outside the mount
python3 - "$M/crash" "$T/acked" <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
i = 0
while True:
    os.write(fd, b"%08d\n" % i)
    os.fsync(fd)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(i))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    i += 1
EOF
writer=$!
sleep 1.5
crash_fs
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
mount_fs -o io_uring
acked=$(cat "$T/acked" 2>/dev/null || echo -1)
lines=$(wc -l <"$M/crash")
[ "$acked" -gt 100 ] || fail "the writer got only $acked records through"
[ "$lines" -gt "$acked" ] || fail "fsynced records lost: $lines lines, record $acked acknowledged"
head -n "$lines" "$M/crash" | awk '{ if ($1 + 0 != NR - 1) { exit 1 } }' ||
	fail "the crashed file's records are not 0..$((lines - 1))"
umount_fs

# ---- the default is io_uring when offered; io_uring=0 turns it off ----
# ring threads' scheduling classes, one word per thread: IDL or TS
ring_classes() {
	ps -L -o cls=,comm= -p "$LSMFS_PID" |
		awk '$2 ~ /^lsmfs-u/ { print $1 }' | sort -u | tr '\n' ' '
}
mount_fs
expect_uring "$M"
# the ring threads in the idle class by default, and only they
[ "$(ring_classes)" = "IDL " ] || fail "ring threads not all SCHED_IDLE: $(ring_classes)"
ps -L -o cls=,comm= -p "$LSMFS_PID" | awk '$2 !~ /^lsmfs-u/ && $1 != "TS" { exit 1 }' ||
	fail "a thread other than the rings left the normal class"
grep -q "(idle class)" "$T/lsmfs.log" || fail "the log does not say idle class"
echo z >"$M/idle"
[ "$(cat "$M/idle")" = z ] || fail "idle-class rings: read back"
umount_fs
mount_fs -o io_uring_idle=0
expect_uring "$M"
[ "$(ring_classes)" = "TS " ] || fail "io_uring_idle=0: ring threads $(ring_classes)"
umount_fs
mount_fs -o io_uring=0
echo y >"$M/off"
[ "$(uring_count)" -eq 0 ] || fail "io_uring=0 served over io_uring"
umount_fs

# ---- FORGETs: read after a pause, so the kernel batches them ----
stat_of() {
	awk -v k="$1" '$1 == k { print $2 }' "$M/.lsmfs/stats"
}
# forgets_after N: removes N small files and waits for the kernel to
# forget them all; prints "messages inodes live" read meanwhile, live
# the bytes of file data still held after them
forgets_after() {
	local m0 i0 i1 l0
	l0=$(stat_of lsmfs_live_bytes)
	mkdir "$M/fg"
	(cd "$M/fg" && for i in $(seq 1 "$1"); do echo "file $i" >"f$i"; done)
	m0=$(stat_of lsmfs_forget_messages_total)
	i0=$(stat_of lsmfs_forgotten_inodes_total)
	rm -rf "$M/fg"
	for _ in $(seq 1 200); do
		i1=$(stat_of lsmfs_forgotten_inodes_total)
		[ $((i1 - i0)) -ge "$1" ] && break
		sleep 0.05
	done
	echo "$(($(stat_of lsmfs_forget_messages_total) - m0)) $((i1 - i0))" \
	     "$(($(stat_of lsmfs_live_bytes) - l0))"
}
mount_fs
expect_uring "$M"
read -r msgs inodes live < <(forgets_after 3000)
[ "$inodes" -ge 3000 ] || fail "only $inodes of 3,000 removed files forgotten"
# one message per inode when read at once; paced, the kernel gathers
# tens of them into each (about 40 under rm -rf on the 2-CPU machine)
[ $((msgs * 4)) -le "$inodes" ] ||
	fail "FORGETs not batched: $msgs messages for $inodes inodes"
# each forgotten file was reclaimed then, not left for the unmount
[ "$live" -eq 0 ] || fail "$live bytes of removed files still held"
: >"$T/lsmfs.log"
umount_fs
grep -q "reclaimed [0-9]* unlinked" "$T/lsmfs.log" &&
	fail "removed files were left to the unmount: $(cat "$T/lsmfs.log")"
mount_fs -o forget_wait_us=0
read -r msgs inodes live < <(forgets_after 1000)
[ "$inodes" -ge 1000 ] || fail "forget_wait_us=0: $inodes of 1,000 forgotten"
[ "$msgs" -ge 1 ] || fail "forget_wait_us=0: no FORGET messages counted"
[ "$live" -eq 0 ] || fail "forget_wait_us=0: $live bytes still held"
umount_fs

# ---- the kernel does not offer it: /dev/fuse, and the log says why ----
echo N >"$PARAM"
: >"$T/lsmfs.log"
mount_fs -o io_uring
echo x >"$M/plain"
[ "$(cat "$M/plain")" = x ] || fail "no /dev/fuse fallback"
[ "$(uring_count)" -eq 0 ] || fail "io_uring counted without the kernel's offer"
grep -q "does not offer FUSE over io_uring" "$T/lsmfs.log" ||
	fail "no word of the missing offer: $(cat "$T/lsmfs.log")"
umount_fs
echo Y >"$PARAM"

# ---- bad values ----
if "$LSMFS" "$D" "$M" -o io_uring,io_uring_threads=0 2>"$T/depth.err"; then
	fusermount3 -u "$M"
	fail "io_uring_depth=0 accepted"
fi
grep -q "io_uring_threads" "$T/depth.err" || fail "unclear: $(cat "$T/depth.err")"
if "$LSMFS" "$D" "$M" -o io_uring_idle=yes 2>"$T/idle.err"; then
	fusermount3 -u "$M"
	fail "io_uring_idle=yes accepted"
fi
grep -q "io_uring_idle" "$T/idle.err" || fail "unclear: $(cat "$T/idle.err")"
if "$LSMFS" "$D" "$M" -o forget_wait_us=200000 2>"$T/fw.err"; then
	fusermount3 -u "$M"
	fail "forget_wait_us=200000 accepted"
fi
grep -q "forget_wait_us" "$T/fw.err" || fail "unclear: $(cat "$T/fw.err")"

# ---- whole scripts with every mount over io_uring ----
export LSMFS_MOUNT_OPTS=io_uring LSMFS_EXPECT_URING=1
for s in fs_posix.sh fs_corner.sh "fs_crash.sh 3" "fs_lifecycle.sh 10" \
	 fs_tools.sh fs_snapshot.sh fs_killpriv.sh fs_space.sh fs_full.sh; do
	echo "fs_uring: $s over io_uring" >&2
	# shellcheck disable=SC2086
	bash "$DIR"/$s >"$T/script.log" 2>&1 ||
		{ tail -n 30 "$T/script.log" >&2; fail "$s failed over io_uring"; }
done
echo "fs_uring: ok"

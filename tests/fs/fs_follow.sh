#!/usr/bin/env bash
# fs_follow.sh - a read-only mount of a store that a read-write mount is
# writing follows it: creates, appends, overwrites, renames, unlinks,
# mkdir/rmdir show up on the follower within 2 s (names it had looked up
# and found missing too), writes to it fail with EROFS, and a file open on
# the follower that the writer deletes reads as ESTALE, never as zeros.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

M2=$T/mnt2
mkdir -p "$M2"
RO_PID=
follow_cleanup() {
	local rc=$?
	fusermount3 -u -z "$M2" 2>/dev/null || true
	[ -n "$RO_PID" ] && { kill "$RO_PID" 2>/dev/null; wait "$RO_PID"; } 2>/dev/null || true
	cleanup "$rc"
}
trap follow_cleanup EXIT

mount_ro() {
	"$LSMFS" "$D" "$M2" -f -o ro 2>>"$T/lsmfs-ro.log" &
	RO_PID=$!
	for _ in $(seq 1 200); do
		grep -q " $M2 fuse" /proc/mounts && return 0
		kill -0 "$RO_PID" 2>/dev/null ||
			{ cat "$T/lsmfs-ro.log" >&2; fail "follower did not start"; }
		sleep 0.05
	done
	fail "follower did not mount within 10 s"
}

# eventually DESCRIPTION COMMAND...: COMMAND succeeds within 2 s.
eventually() {
	local what=$1 t0=$SECONDS
	shift
	for _ in $(seq 1 40); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "follower: $what not visible after $((SECONDS - t0)) s"
}
same() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }
sum_is() { [ "$(cd "$1" && cat f* 2>/dev/null | sha256sum)" = "$2" ]; }
absent() { ! stat "$1" >/dev/null 2>&1; }

mount_fs -o memtable_size=64k,table_size=64k
echo first >"$M/early"
mount_ro
same "$M2/early" first || fail "follower does not show what was there"

# a name looked up and found missing (a negative entry), then created
absent "$M2/a" || fail "a exists too early"
echo hello >"$M/a"
eventually "a new file" same "$M2/a" hello
echo more >>"$M/a"
eventually "an append" same "$M2/a" "$(printf 'hello\nmore')"
printf xyz >"$M/a"
eventually "an overwrite (shorter)" same "$M2/a" xyz
mv "$M/a" "$M/b"
eventually "a rename (new name)" same "$M2/b" xyz
eventually "a rename (old name gone)" absent "$M2/a"
mkdir -p "$M/d/e"
eventually "mkdir" test -d "$M2/d/e"
rmdir "$M/d/e"
eventually "rmdir" absent "$M2/d/e"
# many files, several chunks each, through flushes and compactions
for i in $(seq 1 40); do
	head -c $((i * 5000)) /dev/urandom >"$M/d/f$i"
done
sum_w=$(cd "$M/d" && cat f* | sha256sum)
eventually "40 files" sum_is "$M2/d" "$sum_w"
rm "$M/d/f7"
eventually "an unlink" absent "$M2/d/f7"

# writes to the follower are refused
if ( echo x >"$M2/x" ) 2>"$T/err"; then fail "a write to the follower worked"; fi
grep -q "Read-only file system" "$T/err" || fail "write: $(cat "$T/err")"

# a file open on the follower, deleted and reclaimed by the writer
head -c 100000 /dev/urandom >"$M/victim"
eventually "victim" size_is "$M2/victim" 100000
python3 - "$M2/victim" "$M/victim" <<'EOF'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.pread(fd, 100000, 0)
assert len(first) == 100000, len(first)
os.unlink(sys.argv[2])              # on the writer: deleted and reclaimed
deadline = time.time() + 2
while True:
    try:
        data = os.pread(fd, 100000, 0)
    except OSError as e:
        if e.errno != errno.ESTALE:
            sys.exit("read after delete: %s, not ESTALE" % e)
        break
    if data != first:
        sys.exit("read after delete returned other bytes (%d, zeros: %s)"
                 % (len(data), data.count(0) == len(data)))
    if time.time() > deadline:
        sys.exit("read after delete still succeeds after 2 s")
    time.sleep(0.05)
os.close(fd)
EOF
grep -q "^lsm_follow_catch_ups_total [1-9]" "$M2/.lsmfs/stats" ||
	fail "follower stats lack catch-ups"

fusermount3 -u "$M2"
wait "$RO_PID" || fail "follower exited with $?"
RO_PID=
umount_fs
echo "fs_follow: the read-only mount followed the writer"

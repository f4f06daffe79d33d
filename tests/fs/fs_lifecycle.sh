#!/usr/bin/env bash
# fs_lifecycle.sh [CYCLES] - mounting and unmounting as a user does:
#   - `fusermount3 -u MNT` then at once a new background mount of the same
#     data directory, CYCLES times in a row (default 30; the slow suite
#     runs 100): never "in use by process N", every file still there;
#   - a second mount of a mounted store fails at once, naming the mount;
#     a lock held by another process is waited for, up to lock_timeout;
#   - options are checked before the data directory is touched (an
#     unknown -o on a missing or empty directory creates nothing);
#   - chunk_size other than the store's is refused, naming both;
#   - a mountpoint that is a regular file: a clear message;
#   - a data directory holding only lost+found is taken as empty.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CYCLES=${1:-30}
LOG=$T/bg.log

# bg_mount DIR [opts]: a background mount (lsmfs forks, as from fstab).
bg_mount() {
	local dir=$1
	shift
	"$LSMFS" "$dir" "$M" -o log="$LOG" "$@" 2>>"$T/lsmfs.log"
}

# ---- unmount, then mount again at once, CYCLES times ----
start=$(date +%s%N)
for i in $(seq 1 "$CYCLES"); do
	bg_mount "$D" || fail "cycle $i: mount failed: $(tail -n 2 "$T/lsmfs.log")"
	if [ "$i" -gt 1 ]; then
		cmp -s "$M/f$((i - 1))" <(printf 'cycle %d\n' $((i - 1))) ||
			fail "cycle $i: the file of cycle $((i - 1)) is wrong"
	fi
	printf 'cycle %d\n' "$i" >"$M/f$i"
	head -c 1048576 /dev/urandom >"$M/big" # work for the close to do
	fusermount3 -u "$M"
done
end=$(date +%s%N)
bg_mount "$D"
[ "$(ls "$M" | wc -l)" -eq $((CYCLES + 1)) ] || fail "files missing after cycles"
waits=$(grep -c "lock released after" "$LOG" || true)
echo "$CYCLES unmount+mount cycles in $(((end - start) / 1000000)) ms;" \
	"$waits waited for the previous daemon"
grep -q "in use by process" "$T/lsmfs.log" && fail "a mount saw the lock"

# ---- a second mount of a mounted store fails at once, naming it ----
M2=$T/mnt2
mkdir "$M2"
t0=$(date +%s%N)
if "$LSMFS" "$D" "$M2" -o log="$LOG" 2>"$T/second.err"; then
	fusermount3 -u "$M2"
	fail "a second mount of a mounted store succeeded"
fi
t1=$(date +%s%N)
grep -q "mounted on $M" "$T/second.err" ||
	fail "second mount: no mention of the mount: $(cat "$T/second.err")"
[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "second mount waited"
fusermount3 -u "$M"

# ---- a lock held by another process is waited for, with a deadline ----
python3 - "$D/LOCK" "$T/held" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(1.0)
os.close(fd)
PY
holder=$!
for _ in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.02; done
bg_mount "$D" -o lock_timeout=20 || fail "did not wait for the lock"
grep -q "waiting up to 20.0 s" "$LOG" || fail "the wait was not logged"
wait "$holder"
fusermount3 -u "$M"
python3 - "$D/LOCK" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
time.sleep(4)
PY
holder=$!
sleep 0.5
if bg_mount "$D" -o lock_timeout=0.5 2>"$T/busy.err"; then
	fusermount3 -u "$M"
	fail "mounted while the lock was held"
fi
grep -q "waited 0.5 s" "$T/lsmfs.log" || fail "no deadline in the message"
kill "$holder"
wait "$holder" || true

# ---- options are checked before anything is created ----
E=$T/empty
for opt in bogus_option chunk_size=3k log_level=loud metrics=localhost:x; do
	if "$LSMFS" "$E" "$M" -o "$opt" 2>"$T/opt.err"; then
		fusermount3 -u "$M"
		fail "-o $opt was accepted"
	fi
	[ ! -e "$E" ] || fail "-o $opt created $E"
done
mkdir "$E"
"$LSMFS" "$E" "$M" -o bogus_option 2>"$T/opt.err" && fail "bogus accepted"
grep -q "unknown option" "$T/opt.err" || fail "no message: $(cat "$T/opt.err")"
[ -z "$(ls -A "$E")" ] || fail "-o bogus_option wrote into $E: $(ls -A "$E")"

# ---- chunk_size: the store's, or a refusal ----
C=$T/chunked
bg_mount "$C" -o chunk_size=64k
head -c 200000 /dev/urandom >"$T/blob"
cp "$T/blob" "$M/blob"
fusermount3 -u "$M"
if bg_mount "$C" -o chunk_size=16k 2>/dev/null; then
	fusermount3 -u "$M"
	fail "a different chunk_size was accepted"
fi
grep -q "formatted with chunk_size=65536" "$T/lsmfs.log" ||
	fail "chunk_size refusal does not name the store's value"
bg_mount "$C" -o chunk_size=64k
cmp "$T/blob" "$M/blob" || fail "data changed"
fusermount3 -u "$M"
bg_mount "$C"
cmp "$T/blob" "$M/blob" || fail "data changed without the option"
fusermount3 -u "$M"

# ---- a regular file as mountpoint ----
touch "$T/notadir"
if "$LSMFS" "$T/d3" "$T/notadir" 2>"$T/mp.err"; then
	fail "mounted on a regular file"
fi
grep -q "is not a directory" "$T/mp.err" || fail "unclear: $(cat "$T/mp.err")"
[ ! -e "$T/d3" ] || fail "a bad mountpoint created the data directory"

# ---- lost+found alone is an empty directory ----
L=$T/withlf
mkdir -p "$L/lost+found"
bg_mount "$L" || fail "lost+found was refused"
echo ok >"$M/x"
fusermount3 -u "$M"
bg_mount "$L"
[ "$(cat "$M/x")" = ok ] || fail "lost+found store lost its file"
fusermount3 -u "$M"
[ -d "$L/lost+found" ] || fail "lost+found was removed"
echo "fs_lifecycle: ok"

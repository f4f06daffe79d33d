#!/bin/bash
# fs_ttl.sh - expiring files on a real mount: a file with a 1 s TTL is
# there for stat, ls, cat, open and getfattr before its expiry and gone
# for each of them after it (waits are deadlines read back from
# user.lsmfs.expires, not fixed sleeps), while a descriptor opened before
# keeps reading it; hard links share the expiry; a new file can take the
# expired name; an expiry passes while unmounted; the purge is counted
# and, after compaction, the store gives the space back; -o default_ttl
# gives every new file a TTL that writes do not reset, and a follower
# hides it at the same instant; lsmfs-ctl check finds the store
# consistent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"

MB=$((1024 * 1024))

store_bytes() {
	find "$D" -maxdepth 1 -type f ! -name RESERVE -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

stat_of() { # stat_of NAME: the value of counter NAME in .lsmfs/stats
	awk -v n="$1" '$1 == n { print $2 }' "$M/.lsmfs/stats"
}

now_ns() { date +%s%N; }

# expires_ns FILE: its expiry, in ns since the epoch
expires_ns() {
	local v s f
	v=$(getfattr --absolute-names --only-values -n user.lsmfs.expires "$1")
	s=${v%%.*}
	f=000000000
	[ "$s" = "$v" ] || f=${v#*.}
	echo "$s$f"
}

# wait_past NS: until the clock is past NS (at most 30 s)
wait_past() {
	local limit=$(( $(now_ns) + 30000000000 ))
	while [ "$(now_ns)" -le "$1" ]; do
		[ "$(now_ns)" -lt "$limit" ] || fail "clock did not reach $1"
		sleep 0.02
	done
}

# wait_for DESC CMD...: until CMD succeeds (at most 20 s)
wait_for() {
	local desc=$1
	shift
	for _ in $(seq 1 400); do
		"$@" && return 0
		sleep 0.05
	done
	fail "timed out waiting for $desc"
}

expired_at_least() { [ "$(stat_of lsmfs_expired_files_total)" -ge "$1" ]; }

M2=$T/mnt2
mkdir -p "$M2"
RO_PID=
ttl_cleanup() {
	local rc=$?
	fusermount3 -u -z "$M2" 2>/dev/null || true
	if [ -n "$RO_PID" ]; then kill "$RO_PID" 2>/dev/null || true; wait "$RO_PID" 2>/dev/null || true; fi
	cleanup "$rc"
}
trap ttl_cleanup EXIT

mount_fs -o tombstone_percent=0,idle_compact_ms=0
mkdir "$M/dir"
echo hello > "$M/dir/a"
echo other > "$M/keep"
ln "$M/dir/a" "$M/alink"
head -c $((16 * MB)) /dev/urandom > "$M/big"
echo compact > "$M/.lsmfs/ctl" # the data settles in the deepest level
before=$(store_bytes)
[ "$before" -gt $((16 * MB)) ] || fail "store holds $before bytes, no big file"
if getfattr --absolute-names -n user.lsmfs.ttl "$M/keep" >/dev/null 2>&1; then
	fail "a file without TTL shows one"
fi
if setfattr -n user.lsmfs.ttl -v 5 "$M/dir" 2>/dev/null; then
	fail "a directory took a TTL"
fi
if setfattr -n user.lsmfs.ttl -v soon "$M/keep" 2>/dev/null; then
	fail "a TTL of 'soon' was accepted"
fi
# the 1 s starts here: only the checks before expiry follow
setfattr -n user.lsmfs.ttl -v 1 "$M/dir/a"
setfattr -n user.lsmfs.ttl -v 1 "$M/big"
dl=$(expires_ns "$M/dir/a")
[ "$(getfattr --absolute-names --only-values -n user.lsmfs.ttl "$M/dir/a")" = 1 ] ||
	fail "getfattr user.lsmfs.ttl: not 1"
[ "$(getfattr --absolute-names --only-values -n user.lsmfs.ttl "$M/alink")" = 1 ] ||
	fail "a hard link does not share the TTL"
# before: there for everything
stat "$M/dir/a" >/dev/null || fail "stat before expiry"
ls "$M/dir" | grep -qx a || fail "ls before expiry"
[ "$(cat "$M/dir/a")" = hello ] || fail "cat before expiry"
exec 3<"$M/dir/a"
[ "$(now_ns)" -lt "$dl" ] ||
	fail "the checks before expiry took past it (machine too loaded?)"

# after: gone for every operation, from the instant of expiry
wait_past "$dl"
if stat "$M/dir/a" >/dev/null 2>&1; then fail "stat after expiry"; fi
if [ -e "$M/alink" ]; then fail "the hard link is there after expiry"; fi
if ls "$M/dir" | grep -qx a; then fail "ls after expiry"; fi
if ls -l "$M" | grep -q alink; then fail "ls -l after expiry"; fi
if find "$M" -name big | grep -q .; then fail "find after expiry"; fi
if cat "$M/dir/a" 2>/dev/null; then fail "cat after expiry"; fi
if getfattr --absolute-names -n user.lsmfs.ttl "$M/dir/a" 2>/dev/null; then
	fail "getfattr after expiry"
fi
[ "$(cat <&3)" = hello ] || fail "a descriptor opened before lost the file"
exec 3<&-
[ "$(cat "$M/keep")" = other ] || fail "another file changed"
# the name can be taken again: a new file, with no TTL
echo new > "$M/dir/a"
[ "$(cat "$M/dir/a")" = new ] || fail "a new file at an expired name"
if getfattr --absolute-names -n user.lsmfs.ttl "$M/dir/a" >/dev/null 2>&1; then
	fail "the new file inherited the expired one's TTL"
fi
wait_for "the purge" expired_at_least 2
[ "$(stat_of lsmfs_expired_bytes_total)" -ge $((16 * MB)) ] ||
	fail "expired bytes: $(stat_of lsmfs_expired_bytes_total)"
echo compact > "$M/.lsmfs/ctl"
after=$(store_bytes)
echo "store: $before bytes before expiry, $after after purge and compaction"
[ "$after" -lt $((2 * MB)) ] || fail "the space of the expired file is still held ($after bytes)"

# A name the kernel cached before a TTL was set (entry timeout 60 s) is
# dropped from its cache a margin (1 s) ahead of the expiry, not only by
# the purge after it: in that last second every stat of it reaches the
# daemon as a lookup (nothing of it is cached any more), before it expires.
lookups() { stat_of 'lsmfs_operations_total{op="lookup"}'; }
echo early > "$M/early"
ln "$M/early" "$M/early.link"
stat "$M/early.link" >/dev/null
l0=$(lookups)
for _ in $(seq 1 20); do stat "$M/early.link" >/dev/null; done
l1=$(lookups)
[ $((l1 - l0)) -lt 10 ] ||
	fail "a cached name was looked up $((l1 - l0)) times in 20 stats"
setfattr -n user.lsmfs.ttl -v 3 "$M/early"
dl=$(expires_ns "$M/early")
# rounds of 10 stats from 0.9 s before the expiry until one round is all
# lookups (reading the counters adds up to 2), finished before it
wait_past $((dl - 900000000))
seen=0
while [ "$(now_ns)" -lt $((dl - 100000000)) ]; do
	l0=$(lookups)
	for _ in $(seq 1 10); do stat "$M/early.link" >/dev/null; done
	l1=$(lookups)
	[ "$(now_ns)" -lt "$dl" ] || break
	if [ $((l1 - l0)) -ge 10 ]; then seen=1; break; fi
done
[ "$seen" = 1 ] || fail "in its last second, stats of a name cached" \
	"before its TTL was set did not reach the daemon (last round:" \
	"$((l1 - l0)) lookups for 10 stats; or the machine was too loaded)"
wait_past "$dl"
if [ -e "$M/early.link" ]; then fail "early.link is there after expiry"; fi

# an expiry that passes while unmounted; a long one survives a remount
echo soon > "$M/soon"
echo later > "$M/later"
setfattr -n user.lsmfs.ttl -v 2 "$M/soon"
setfattr -n user.lsmfs.ttl -v 3600 "$M/later"
dl=$(expires_ns "$M/soon")
umount_fs
wait_past "$dl"
mount_fs
if [ -e "$M/soon" ]; then fail "expired while unmounted, there after mount"; fi
[ "$(cat "$M/later")" = later ] || fail "a file with a long TTL changed"
ttl=$(getfattr --absolute-names --only-values -n user.lsmfs.ttl "$M/later")
[ "$ttl" -gt 3500 ] && [ "$ttl" -le 3600 ] || fail "TTL after remount: $ttl"
wait_for "the purge after mount" expired_at_least 1
setfattr -x user.lsmfs.ttl "$M/later"
if getfattr --absolute-names -n user.lsmfs.ttl "$M/later" >/dev/null 2>&1; then
	fail "setfattr -x did not clear the TTL"
fi
umount_fs

# kill -9 while hundreds of files expire and are purged: after the
# restart none is back, the rest is intact, the store is consistent
mount_fs -o default_ttl=1
mkdir "$M/many"
for i in $(seq 1 300); do echo "$i" > "$M/many/f$i"; done
dl=$(expires_ns "$M/many/f300")
wait_past "$(( $(expires_ns "$M/many/f1") + 100000000 ))"
crash_fs # the purge is under way (or done)
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after kill -9 during purges"
wait_past "$dl"
mount_fs
[ -z "$(ls "$M/many")" ] || fail "expired files back after kill -9: $(ls "$M/many" | head -3)"
[ "$(cat "$M/later")" = later ] || fail "a file without TTL changed"
umount_fs
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after the purge"

# -o default_ttl: every new file; a write does not reset it.  A follower
# (a read-only mount beside the writer) hides it at the same instant, by
# its own clock.
mount_fs -o default_ttl=2
"$LSMFS" "$D" "$M2" -f -o ro 2>>"$T/lsmfs-ro.log" &
RO_PID=$!
wait_for "the follower's mount" grep -q " $M2 fuse" /proc/mounts
echo x > "$M/d1"
dl=$(expires_ns "$M/d1")
ttl=$(getfattr --absolute-names --only-values -n user.lsmfs.ttl "$M/d1")
[ "$ttl" -ge 1 ] && [ "$ttl" -le 2 ] || fail "default_ttl: TTL $ttl"
mkdir "$M/d2"
if getfattr --absolute-names -n user.lsmfs.ttl "$M/d2" >/dev/null 2>&1; then
	fail "a directory got the default TTL"
fi
echo more >> "$M/d1"
[ "$(expires_ns "$M/d1")" = "$dl" ] || fail "a write moved the expiry"
[ -e "$M/d1" ] || fail "the file went before its expiry"
follower_has() { [ "$(cat "$M2/d1" 2>/dev/null)" = "$(printf 'x\nmore')" ]; }
wait_for "d1 on the follower" follower_has
[ "$(now_ns)" -lt "$dl" ] || fail "the follower took past the expiry"
wait_past "$dl"
if [ -e "$M/d1" ]; then fail "a default TTL file outlived its expiry"; fi
if stat "$M2/d1" >/dev/null 2>&1; then fail "the follower shows d1 after its expiry"; fi
if ls "$M2" | grep -qx d1; then fail "the follower lists d1 after its expiry"; fi
if cat "$M2/d1" >/dev/null 2>&1; then fail "the follower reads d1 after its expiry"; fi
[ -d "$M/d2" ] || fail "the directory expired"
fusermount3 -u "$M2"
wait "$RO_PID" || fail "the follower exited with status $?"
RO_PID=
umount_fs
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after expiries"
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/lsmfs*.log; then
	fail "a sanitizer report in the daemons' logs"
fi
echo "fs_ttl: ok"

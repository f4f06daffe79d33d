#!/usr/bin/env bash
# repl_basic.sh - lsmfs-replicate end to end: a primary mount written by
# shell tools while two replicas follow it (one local, one through the ssh
# path with a directory name that needs quoting), each replica mounted
# read-only (a follower) and compared with the primary; a killed and
# restarted replicator resumes without a bootstrap; --once; a promoted
# replica fences the old line (the old primary's replica is rebuilt, not
# mixed); a replica is never written by anyone else while it follows.
set -euo pipefail
. "$(dirname "$0")/../fs/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

P=$T/primary
R1=$T/replica1
R2="$T/replica two 'quoted'"
mkdir -p "$P"
# small memtables: segments and tables come and go during the test
mount_at "$P" "$T/mp" -o memtable_size=256K,table_size=256K,sync=always
MP=$T/mp

# a first tree before any replica exists
mkdir -p "$MP/src"
cp -r /usr/include/linux "$MP/src/" 2>/dev/null || true
for i in $(seq 1 200); do echo "file $i" >"$MP/src/f$i"; done

# a snapshot of the primary: it stays there (snapshots do not travel)
mkdir "$MP/.lsmfs/snapshots/before-repl"
sum_before=$(cat "$MP/src/f1")

start_repl r1 "$P" "$R1"
start_repl r2 -z -e "$FAKE_SSH" --remote-path "$REPL" "$P" "fakehost:$R2"

# more writes while they follow: creates, overwrites, deletes, renames
for i in $(seq 1 300); do
	echo "more $i $(date +%s%N)" >"$MP/src/g$i"
done
for i in $(seq 1 100); do rm "$MP/src/f$i"; done
mv "$MP/src/g1" "$MP/src/renamed"
dd if=/dev/urandom of="$MP/big" bs=64K count=32 status=none

# both replicas, mounted read-only, come to hold exactly the tree
wait_for_store() {
	for _ in $(seq 1 300); do
		[ -f "$1/CURRENT" ] && return 0
		sleep 0.1
	done
	fail "$1 never got a store"
}
wait_for_store "$R1"
wait_for_store "$R2"
mount_at "$R1" "$T/m1" -o ro
mount_at "$R2" "$T/m2" -o ro
wait_same "$MP" "$T/m1" 60
wait_same "$MP" "$T/m2" 60
grep -q "fakehost" "$T/r2.log" 2>/dev/null || true

# the primary's snapshot is still its own and reads as it was; the
# replicas dropped the copy their bootstrap carried
[ "$(cat "$MP/.lsmfs/snapshots/before-repl/src/f1")" = "$sum_before" ] ||
	fail "the primary's snapshot changed under replication"
for _ in $(seq 1 100); do
	[ -z "$(ls "$T/m1/.lsmfs/snapshots")$(ls "$T/m2/.lsmfs/snapshots")" ] &&
		break
	sleep 0.1
done
[ -z "$(ls "$T/m1/.lsmfs/snapshots")" ] || fail "replica 1 kept the primary's snapshots"
[ -z "$(ls "$T/m2/.lsmfs/snapshots")" ] || fail "replica 2 kept the primary's snapshots"
grep -q "dropped the 1 snapshot the bootstrap carried" "$T/r1.log" ||
	fail "replica 1's bootstrap did not drop the primary's snapshot"
rmdir "$MP/.lsmfs/snapshots/before-repl"

# a writable mount of a replica that is being followed is refused
mkdir -p "$T/mrw"
if "$LSMFS" "$R1" "$T/mrw" 2>"$T/rw.err"; then
	fusermount3 -u "$T/mrw"
	fail "a writable mount of a replica under replication succeeded"
fi
grep -q "in use" "$T/rw.err" || { cat "$T/rw.err" >&2;
	fail "a writable mount of a replica under replication was not refused"; }

# kill -9 the replicator, write on, restart it: it resumes (no bootstrap)
stop_repl r1 -9
for i in $(seq 301 400); do echo "after kill $i" >"$MP/src/g$i"; done
start_repl r1b "$P" "$R1"
wait_same "$MP" "$T/m1" 60
boots=$(stat_of r1b lsmfs_replica_bootstraps_total)
[ "${boots:-0}" = 0 ] || fail "the restarted replicator bootstrapped ($boots)"
grep -q "streaming from sequence" "$T/r1b.log" ||
	fail "the restarted replicator did not resume from its position"

# restart the primary: its recovery turns the log into a table; the
# archive keeps the records, so replicas still resume without a bootstrap
umount_at "$MP"
mount_at "$P" "$MP" -o memtable_size=256K,table_size=256K,sync=always
for i in $(seq 401 450); do echo "after restart $i" >"$MP/src/g$i"; done
wait_same "$MP" "$T/m1" 60
wait_same "$MP" "$T/m2" 60
boots=$(stat_of r1b lsmfs_replica_bootstraps_total)
[ "${boots:-0}" = 0 ] || fail "a primary restart forced a bootstrap"

# lsmfs-ctl checkpoint of the live mount: every file written before it
for i in $(seq 1 50); do echo "ckpt $i" >"$MP/src/c$i"; done
"$LSMFS_CTL" checkpoint "$P" "$T/ckpt" >"$T/ckpt.out" ||
	fail "checkpoint of a live store failed"
echo "after the checkpoint" >"$MP/src/c51"
mount_at "$T/ckpt" "$T/mc" -o ro
for i in $(seq 1 50); do
	[ "$(cat "$T/mc/src/c$i")" = "ckpt $i" ] || fail "checkpoint lacks c$i"
done
umount_at "$T/mc"
"$LSMFS_CTL" check "$T/ckpt" >/dev/null || fail "the checkpoint fails check"

# --once: a third replica made and brought up to date, exit 0
"$REPL" --once --progress "$P" "$T/replica3" 2>"$T/once.log" ||
	fail "--once failed: $(cat "$T/once.log")"
"$LSMFS_CTL" get "$T/replica3" src/g450 | grep -q "after restart 450" ||
	fail "--once replica lacks the last write"

# promotion: stop following R2, mount it writable: a new generation
stop_repl r2
umount_at "$T/m2"
mount_at "$R2" "$T/m2w"
echo "written on the promoted replica" >"$T/m2w/promoted"
ino=$(stat -c %i "$T/m2w/promoted")
# generation 2 numbers inodes from 2 << 48: none can be the old primary's
[ "$ino" -ge $((2 << 48)) ] ||
	fail "a promoted replica reused the old line's inode numbers ($ino)"
umount_at "$T/m2w"
"$LSMFS_CTL" info "$R2" >"$T/info2" 2>&1 || true
# the old primary went on meanwhile; replicating it into R2 is refused
# (R2 is a primary now, never overwritten)
echo "old line" >"$MP/oldline"
if "$REPL" --once "$P" "$R2" 2>"$T/refuse.log"; then
	fail "a promoted replica was overwritten"
fi
grep -q "not a replica" "$T/refuse.log" || { cat "$T/refuse.log" >&2;
	fail "no clear refusal for a promoted replica"; }
"$LSMFS_CTL" check "$R2" >"$T/check2" 2>&1 ||
	{ cat "$T/check2" >&2; fail "the promoted replica fails check"; }
"$LSMFS_CTL" check "$R1" >"$T/check1" 2>&1 ||
	{ cat "$T/check1" >&2; fail "replica 1 fails check"; }
# R1 followed the old primary past the promotion point: replicating the
# new primary (R2) into it finds it diverged and rebuilds it
stop_repl r1b
umount_at "$T/m1"
"$REPL" --once "$R2" "$R1" 2>"$T/rebuild.log" ||
	fail "rebuild from the promoted replica failed: $(tail -3 "$T/rebuild.log")"
grep -q "DIVERGED" "$T/rebuild.log" || { cat "$T/rebuild.log" >&2;
	fail "the divergence was not reported"; }
"$LSMFS_CTL" get "$R1" promoted | grep -q "promoted replica" ||
	fail "rebuilt replica lacks the new primary's write"
if "$LSMFS_CTL" get "$R1" oldline >/dev/null 2>&1; then
	fail "rebuilt replica kept the old primary's divergent write"
fi
"$LSMFS_CTL" check "$R1" >"$T/check1" 2>&1 ||
	{ cat "$T/check1" >&2; fail "rebuilt replica fails check"; }
echo "replication basics: OK"

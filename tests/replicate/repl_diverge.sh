#!/usr/bin/env bash
# repl_diverge.sh - epochs: a replica is never fed a history its primary
# no longer has.
#   1. A primary reopened (unmounted and mounted again) begins a new epoch;
#      a replicator running across the restart tells the replica (EPOCHS)
#      and goes on streaming: no bootstrap, no rebuild.
#   2. The primary is restored from a backup of its directory and writes
#      past the replica's position: the same store, the same generation,
#      sequence numbers that go on - only the epoch behind the replica's
#      position tells the histories apart.  The replicator reports
#      DIVERGED and rebuilds the replica, which then equals the restored
#      primary (it loses the writes the backup lacked, and holds nothing
#      the primary does not); its read-only mount, kept across the
#      rebuild, comes to show exactly the new store.
set -euo pipefail
. "$(dirname "$0")/../fs/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
trap repl_exit EXIT

P=$T/primary R=$T/replica MP=$T/mp MR=$T/mr
mkdir -p "$P"
mount_at "$P" "$MP"
mkdir "$MP/a"
for i in $(seq 1 20); do echo "first $i" >"$MP/a/f$i"; done
sync -f "$MP/a/f1"
start_repl r "$P" "$R"
for _ in $(seq 1 300); do [ -f "$R/CURRENT" ] && break; sleep 0.1; done
[ -f "$R/CURRENT" ] || fail "the replica was not bootstrapped"
mount_at "$R" "$MR" -o ro${DIVERGE_MR_OPTS:-}
wait_same "$MP/a" "$MR/a" 30

# 1. a restart of the primary under a running replicator
umount_at "$MP"
cp -a "$P" "$T/backup"          # a backup of the closed store
mount_at "$P" "$MP"
mkdir "$MP/b"
for i in $(seq 1 40); do echo "second $i" >"$MP/b/f$i"; done
sync -f "$MP/b/f1"
wait_same "$MP/b" "$MR/b" 30
grep -q "epochs changed" "$T/r.log" ||
	fail "the sender did not send the new epoch: $(tail -5 "$T/r.log")"
if grep "DIVERGED\|bootstrap:" "$T/r.log" | grep -qv "holds no store"; then
	fail "a restart of the primary made the replica start over"
fi
n=$(grep -c "installed a bootstrap" "$T/r.log" || true)
[ "$n" -eq 1 ] || fail "$n bootstraps, want 1 (the first)"
"$LSMFS_CTL" info "$R" | grep -q "^epochs: 2 kept" ||
	fail "the replica did not take the primary's epochs: $("$LSMFS_CTL" info "$R" | grep epochs)"
stop_repl r
umount_at "$MP"

# 2. the primary restored from the backup writes past the replica
rm -rf "$P"
cp -a "$T/backup" "$P"
mount_at "$P" "$MP"
mkdir "$MP/c"
for i in $(seq 1 120); do echo "third $i" >"$MP/c/f$i"; done
sync -f "$MP/c/f1"
umount_at "$MP"
p_seq=$("$LSMFS_CTL" info "$P" | sed -n 's/.*last sequence \([0-9]*\).*/\1/p')
r_seq=$("$LSMFS_CTL" info "$R" | sed -n 's/.*last sequence \([0-9]*\).*/\1/p')
echo "primary at $p_seq, replica at $r_seq"
# the replica's read-only mount stays: the rebuild replaces the store
# under it with the same store's other history, under the same names
"$REPL" --once --log-level info "$P" "$R" 2>"$T/once.log" ||
	fail "--once failed: $(tail -5 "$T/once.log")"
grep -q "DIVERGED" "$T/once.log" ||
	fail "the restored primary's divergence went unnoticed: $(cat "$T/once.log")"
grep DIVERGED "$T/once.log"
grep -q "epoch" "$T/once.log" ||
	fail "the reason does not name the epoch: $(grep DIVERGED "$T/once.log")"
mount_at "$P" "$MP" -o ro
mount_at "$R" "$T/mr2" -o ro
[ ! -e "$T/mr2/b" ] || fail "the rebuilt replica kept writes its primary lost"
diff -r "$MP" "$T/mr2" >/dev/null 2>&1 || {
	diff -r "$MP" "$T/mr2" | head >&2
	fail "the rebuilt replica differs from the restored primary"
}
umount_at "$T/mr2"
# the mount kept across the rebuild shows the new store, whole
wait_same "$MP" "$MR" 30
[ ! -e "$MR/b" ] || fail "the kept mount still shows what the rebuild removed"
umount_at "$MR"
umount_at "$MP"
"$LSMFS_CTL" check "$R" >/dev/null || fail "the rebuilt replica fails check"
echo "repl_diverge: OK"

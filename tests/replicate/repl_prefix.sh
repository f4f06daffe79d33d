#!/usr/bin/env bash
# repl_prefix.sh - a replica always holds a prefix of its primary's
# history, and a failover drill.
#   1. A sequence-numbered writer on the primary (file i holds i); the
#      primary's lsmfs is killed -9 at random moments and remounted; the
#      replica, mounted read-only, is read continuously and must hold
#      files 1..k and nothing else, every time, then catch up.
#   2. Failover: the primary (lsmfs-test, sync=always) loses its power
#      mid-write; every acknowledged write survives on it; the replica
#      holds a prefix no longer than the primary's (only synced records
#      are shipped); the replica is promoted and writes; the old primary's
#      line is fenced: it cannot overwrite the promoted replica, and a
#      replica that followed it past the promotion point is rebuilt.
# LSM_SEED replays the random moments.
set -euo pipefail
. "$(dirname "$0")/../fs/lib.sh"
. "$(dirname "$0")/repl_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LSMFS_TEST:?LSMFS_TEST must name lsmfs-test}"
SEED=${LSM_SEED:-$RANDOM}
echo "repl_prefix: seed $SEED (replay with LSM_SEED=$SEED)"
RANDOM=$SEED
ROUNDS=${LSMFS_PREFIX_ROUNDS:-3}

P=$T/primary R=$T/replica MP=$T/mp MR=$T/mr
mkdir -p "$P" "$T/w"
OPTS=sync=always,memtable_size=128K,table_size=128K
mount_at "$P" "$MP" -o $OPTS
mkdir "$MP/seq"
start_repl r "$P" "$R"
for _ in $(seq 1 300); do [ -f "$R/CURRENT" ] && break; sleep 0.1; done
mount_at "$R" "$MR" -o ro
python3 "$HERE/seq_tool.py" poll "$MR/seq" 600 "$T/STOP" >"$T/poll.out" 2>"$T/poll.err" &
poller=$!

for round in $(seq 1 "$ROUNDS"); do
	python3 "$HERE/seq_tool.py" write "$MP/seq" "$T/acked" \
		2>>"$T/writer.log" &
	writer=$!
	sleep 0.5
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	kill -9 "$(pid_at "$MP")"
	kill -9 $writer 2>/dev/null || true
	wait $writer 2>/dev/null || true
	crash_at "$MP"
	kill -0 $poller 2>/dev/null || fail "round $round: the replica was not a prefix: $(cat "$T/poll.err")"
	mount_at "$P" "$MP" -o $OPTS
	kp=$(python3 "$HERE/seq_tool.py" check "$MP/seq")
	acked=$(tail -1 "$T/acked")
	[ "$kp" -ge "$acked" ] ||
		fail "round $round: the primary lost acknowledged writes ($kp < $acked)"
	echo "round $round: $acked acknowledged, the primary holds $kp"
done
wait_same "$MP/seq" "$MR/seq" 30
touch "$T/STOP"
wait $poller || fail "the replica was not always a prefix: $(cat "$T/poll.err")"
echo "replica read continuously, largest prefix seen: $(cat "$T/poll.out")"

# ---- failover drill: a power cut of the primary ----
umount_at "$MP"
LSMFS=$LSMFS_TEST mount_at "$P" "$MP" -o test_powercut,$OPTS
python3 "$HERE/seq_tool.py" write "$MP/seq" "$T/acked" 2>>"$T/writer.log" &
writer=$!
sleep "1.$((RANDOM % 10))"
kill -USR1 "$(pid_at "$MP")"
sleep 0.2
kill -9 $writer 2>/dev/null || true
wait $writer 2>/dev/null || true
crash_at "$MP"
sleep 0.5 # the replicator ships what it can still read
stop_repl r
acked=$(tail -1 "$T/acked")
# the replica as a fresh mount reads it, and as the follower mount kept
# all along comes to read it: the power-cut simulation can discard
# records the sender had synced itself, the replica is then ahead and
# rebuilt from the same store, and the kept follower must notice the
# replacement (a new manifest and tables under the old names), not show
# a mix of the two stores
mount_at "$R" "$T/mr2" -o ro
kr=$(python3 "$HERE/seq_tool.py" check "$T/mr2/seq")
umount_at "$T/mr2"
for _ in $(seq 1 100); do
	kf=$(python3 "$HERE/seq_tool.py" check "$MR/seq" 2>/dev/null) || kf=bad
	[ "$kf" = "$kr" ] && break
	sleep 0.1
done
[ "$kf" = "$kr" ] || fail "the kept follower mount of the replica shows $kf, a fresh mount $kr"
umount_at "$MR"
mount_at "$P" "$MP" -o $OPTS
kp=$(python3 "$HERE/seq_tool.py" check "$MP/seq")
echo "power cut (sync=always): $acked acknowledged, the primary kept $kp, the replica had $kr"
[ "$kp" -ge "$acked" ] || fail "the primary lost acknowledged writes in a power cut"
[ "$kr" -le "$kp" ] || fail "the replica is ahead of the primary after its power cut"

# promote the replica: stop receiving (done), mount it writable
mount_at "$R" "$T/mw"
python3 "$HERE/seq_tool.py" write "$T/mw/seq" "$T/acked-new" $((kr + 20))
[ "$(python3 "$HERE/seq_tool.py" check "$T/mw/seq")" = $((kr + 20)) ] ||
	fail "the promoted replica did not take writes"
umount_at "$T/mw"
"$LSMFS_CTL" info "$R" | grep -q "generation 2" || fail "promotion began no new generation"
# the old primary writes on (its own line now) and a replica follows it
python3 "$HERE/seq_tool.py" write "$MP/seq" "$T/acked" $((kp + 40))
"$REPL" --once "$P" "$T/old-line" 2>"$T/old.log" || fail "replica of the old primary"
# fenced: the old primary cannot overwrite the promoted replica...
if "$REPL" --once "$P" "$R" 2>"$T/fence.log"; then
	fail "the old primary overwrote the promoted replica"
fi
grep -q "not a replica" "$T/fence.log" || fail "no clear fencing message"
# ...and a replica of its line is seen as diverged by the new primary
"$REPL" --once "$R" "$T/old-line" 2>"$T/rebuild.log" ||
	fail "rebuilding the old line's replica failed: $(tail -3 "$T/rebuild.log")"
grep -q DIVERGED "$T/rebuild.log" || fail "the old line was not seen as diverged"
mount_at "$T/old-line" "$T/mo" -o ro
[ "$(python3 "$HERE/seq_tool.py" check "$T/mo/seq")" = $((kr + 20)) ] ||
	fail "the rebuilt replica does not hold the new primary's line"
echo "replication prefix and failover: OK"

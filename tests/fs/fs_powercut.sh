#!/bin/bash
# fs_powercut.sh [ROUNDS] - power cuts of the whole mounted system.  Each
# round mounts the store with lsmfs-test -o test_powercut (the engine on
# tests/support/faulty_io), runs pcut_writer.py in a fresh directory, cuts
# the power (SIGUSR1: every byte and directory change not synced is
# dropped from the data directory, the daemon _exits), then:
#   - lsmfs-ctl check on the data directory as the cut left it;
#   - a mount with the normal lsmfs: the directory must hold a state the
#     writer produced, no older than its last fsync that returned
#     (pcut_writer.py's docstring defines it), and every earlier round's
#     directory exactly as it was checked;
#   - a clean unmount and lsmfs-ctl check again.
# Rounds vary the sync mode (manual with fsync, always), the cut (all
# unsynced lost, or a random part of it kept) and the memtable size (small
# ones flush and compact during the round).  ROUNDS defaults to
# $LSMFS_PCUT_ROUNDS or 4.  Needs LSMFS, LSMFS_TEST and LSMFS_CTL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LSMFS_TEST:?LSMFS_TEST must name the lsmfs-test binary}"
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"
ROUNDS=${1:-${LSMFS_PCUT_ROUNDS:-4}}
SEED=${LSM_SEED:-$RANDOM}
echo "fs_powercut: seed $SEED (replay with LSM_SEED=$SEED)"
RANDOM=$SEED

# ctl_check WHEN: lsmfs-ctl check (with the filesystem pass) must pass.
ctl_check() {
	if ! "$LSMFS_CTL" check "$D" >"$T/check.out" 2>&1; then
		cat "$T/check.out" >&2
		fail "round $round (seed $SEED): lsmfs-ctl check $1 found damage"
	fi
}

for round in $(seq 1 "$ROUNDS"); do
	case $((round % 4)) in
	1) sync=manual cut=test_powercut ;;
	2) sync=always cut=test_powercut ;;
	3) sync=manual cut=test_powercut=$RANDOM$RANDOM ;;
	0) sync=always cut=test_powercut=$RANDOM$RANDOM ;;
	esac
	mem=$(echo 64k 256k 8M | cut -d' ' -f$((RANDOM % 3 + 1)))
	wseed=$RANDOM
	opts=$cut,sync=$sync,memtable_size=$mem
	echo "round $round: -o $opts, writer seed $wseed"
	LSMFS=$LSMFS_TEST mount_fs -o "$opts"
	python3 "$HERE/pcut_writer.py" write "$M/r$round" "$T/log.$round" \
		"$wseed" 2>>"$T/writer.log" &
	wpid=$!
	i=0
	while [ ! -e "$T/log.$round" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$T/log.$round" ] || fail "round $round: the writer did not start"
	if [ $((RANDOM % 3)) -eq 0 ]; then
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	else
		sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	fi
	kill -USR1 "$LSMFS_PID"
	st=0
	wait "$LSMFS_PID" || st=$?
	LSMFS_PID=
	[ $st -eq 0 ] || fail "round $round: lsmfs-test exited $st at the cut"
	# The writer fails on the dead mount; stop it before the mount goes,
	# or it could write into the bare directory underneath.
	kill -9 "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null || true
	ctl_check "after the cut"
	mount_fs -o "sync=$sync"
	python3 "$HERE/pcut_writer.py" check "$M/r$round" "$T/log.$round" \
		"$wseed" "$sync" "$T/snap.$round" ||
		fail "round $round (seed $SEED, writer seed $wseed, -o $opts)"
	for r in $(seq 1 $((round - 1))); do
		python3 "$HERE/pcut_writer.py" recheck "$M/r$r" "$T/snap.$r" ||
			fail "round $round (seed $SEED): round $r's data changed"
	done
	umount_fs
	ctl_check "after the remount"
done
echo "fs_powercut: $ROUNDS rounds OK"

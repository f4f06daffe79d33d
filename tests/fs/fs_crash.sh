#!/bin/bash
# fs_crash.sh [ROUNDS] - kill -9 of lsmfs at random moments while a writer
# fsyncs and logs what it made durable; after each remount every durable
# state must be there and every file in a state it really had, and
# lsmfs-ctl check (the filesystem pass included) must find no damage, both
# in the store as the crash left it and after the remount.
# ROUNDS defaults to $LSMFS_CRASH_ROUNDS or 3.  Needs LSMFS and LSMFS_CTL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"
ROUNDS=${1:-${LSMFS_CRASH_ROUNDS:-3}}
SEED=${LSM_SEED:-$RANDOM}
echo "fs_crash: seed $SEED (replay with LSM_SEED=$SEED)"
RANDOM=$SEED

# ctl_check WHEN: lsmfs-ctl check on the data directory must pass.
ctl_check() {
	if ! "$LSMFS_CTL" check "$D" >"$T/check.out" 2>&1; then
		cat "$T/check.out" >&2
		fail "lsmfs-ctl check $1 found damage (seed $SEED)"
	fi
}

for round in $(seq 1 "$ROUNDS"); do
	mount_fs
	python3 "$HERE/crash_writer.py" write "$M" "$T/log.$round" \
		2>/dev/null &
	wpid=$!
	# The random delay counts from the writer's start (python can take
	# longer than the shortest delay to start on a loaded machine).
	i=0
	while [ ! -e "$T/log.$round" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep "$((RANDOM % 2)).$((RANDOM % 9 + 1))"
	kill -9 "$LSMFS_PID"
	# Stop the writer before the dead mount goes, or it would go on
	# writing into the bare directory underneath.
	kill -9 "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	crash_fs
	ctl_check "after crash $round"
	mount_fs
	python3 "$HERE/crash_writer.py" check "$M" "$T/log.$round"
	find "$M" > /dev/null
	rm -f "$M"/f* "$M/journal"
	umount_fs
	ctl_check "after round $round"
done
# An unlinked file still open at the crash is reclaimed at the next mount.
mount_fs
exec 8<>"$M/orphan"
echo data >&8
rm "$M/orphan"
kill -9 "$LSMFS_PID"
exec 8>&-
crash_fs
ctl_check "after the crash with an orphan"
mount_fs
grep -qx 'lsmfs_orphans_reclaimed_at_mount 1' "$M/.lsmfs/stats" ||
	fail "orphan not reclaimed at mount"
umount_fs
ctl_check "after the orphan's reclaim"
echo "fs_crash: $ROUNDS rounds OK"

#!/bin/bash
# fs_crash.sh [ROUNDS] - kill -9 of lsmfs at random moments while a writer
# fsyncs and logs what it made durable; after each remount every durable
# state must be there and every file in a state it really had.
# ROUNDS defaults to $LSMFS_CRASH_ROUNDS or 3.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-${LSMFS_CRASH_ROUNDS:-3}}
SEED=${LSM_SEED:-$RANDOM}
echo "fs_crash: seed $SEED (replay with LSM_SEED=$SEED)"
RANDOM=$SEED

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
	mount_fs
	python3 "$HERE/crash_writer.py" check "$M" "$T/log.$round"
	find "$M" > /dev/null
	rm -f "$M"/f* "$M/journal"
	umount_fs
done
# An unlinked file still open at the crash is reclaimed at the next mount.
mount_fs
exec 8<>"$M/orphan"
echo data >&8
rm "$M/orphan"
kill -9 "$LSMFS_PID"
exec 8>&-
crash_fs
mount_fs
grep -qx 'lsmfs_orphans_reclaimed_at_mount 1' "$M/.lsmfs/stats" ||
	fail "orphan not reclaimed at mount"
umount_fs
echo "fs_crash: $ROUNDS rounds OK"

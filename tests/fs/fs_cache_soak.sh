#!/bin/bash
# fs_cache_soak.sh [SECONDS] - the expiry and capacity soak (suite slow):
# cache_soak.py's random workload (writes, overwrites, renames, deletes,
# TTLs of 0.2-3 s, compactions) on a mount with max_size=8M,on_full=evict
# and small memtables (flushes and compactions all along), reading through
# a follower too.  No wrong bytes on either mount, expired files gone on
# both, live bytes under the bound (checked by the driver); then the
# daemon's memory and the store's disk bytes are bounded and lsmfs-ctl
# check finds the store consistent.  SECONDS (or LSMFS_SOAK_SECS) [120];
# an hour: LSMFS_SOAK_SECS=3600 meson test -C build --timeout-multiplier=5
# fs-cache-soak (or run this script with LSMFS and LSMFS_CTL set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"
SECS=${1:-${LSMFS_SOAK_SECS:-120}}
MB=$((1024 * 1024))

M2=$T/mnt2
mkdir -p "$M2"
RO_PID=
soak_cleanup() {
	local rc=$?
	fusermount3 -u -z "$M2" 2>/dev/null || true
	if [ -n "$RO_PID" ]; then kill "$RO_PID" 2>/dev/null || true; wait "$RO_PID" 2>/dev/null || true; fi
	cleanup "$rc"
}
trap soak_cleanup EXIT

store_bytes() {
	find "$D" -type f ! -name RESERVE -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

mount_fs -o max_size=8M,on_full=evict,memtable_size=1M,table_size=1M,wal_archive=0
"$LSMFS" "$D" "$M2" -f -o ro 2>>"$T/lsmfs-ro.log" &
RO_PID=$!
for _ in $(seq 1 200); do
	grep -q " $M2 fuse" /proc/mounts && break
	sleep 0.05
done
grep -q " $M2 fuse" /proc/mounts || fail "the follower did not mount"

python3 "$here/cache_soak.py" "$M" "$M2" "$SECS" "${LSMFS_SOAK_SEED:-$$}" ||
	fail "cache_soak.py"
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$LSMFS_PID/status")
echo "daemon peak RSS ${rss} KiB"
# 50 MiB measured; ASan's quarantine alone takes 256 MiB
[ "$rss" -lt $((768 * 1024)) ] || fail "daemon peak RSS ${rss} KiB"
echo compact > "$M/.lsmfs/ctl"
bytes=$(store_bytes)
echo "store: $bytes bytes on disk after a compaction (max_size 8 MiB)"
[ "$bytes" -lt $((40 * MB)) ] || fail "the store holds $bytes bytes"
fusermount3 -u "$M2"
wait "$RO_PID" || fail "the follower exited with status $?"
RO_PID=
umount_fs
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after the soak"
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/lsmfs*.log; then
	fail "a sanitizer report in the daemons' logs"
fi
echo "fs_cache_soak: ok"

#!/bin/bash
# fs_space.sh - space comes back after rm on a mounted store: by itself
# (deletion-triggered compaction and the idle pass), on request through
# MNT/.lsmfs/ctl, and through `lsmfs-ctl compact DATADIR` finding the
# mount; df on the mount reports the data directory's filesystem.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"

MB=$((1024 * 1024))

# Bytes of the store's files (the reserve for a full disk left out).
store_bytes() {
	find "$D" -maxdepth 1 -type f ! -name RESERVE -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

# write_files FIRST LAST: 2 MiB of random bytes in each of f.FIRST..f.LAST
write_files() {
	for i in $(seq "$1" "$2"); do
		head -c $((2 * MB)) /dev/urandom > "$M/f.$i"
	done
}

# at_most LIMIT WHAT: the store's size must be <= LIMIT bytes.
at_most() {
	local now
	now=$(store_bytes)
	echo "$2: store $now bytes, limit $1"
	[ "$now" -le "$1" ] || fail "$2: store is $now bytes, more than $1"
}

# --- on request, with nothing automatic ---
mount_fs -o tombstone_percent=0,idle_compact_ms=0
[ -e "$M/.lsmfs/ctl" ] || fail "no .lsmfs/ctl"
[ "$(stat -c %a "$M/.lsmfs/ctl")" = 200 ] || fail ".lsmfs/ctl mode"
ls "$M/.lsmfs" | grep -qx ctl || fail "ctl not listed in .lsmfs"
write_files 1 24
echo compact > "$M/.lsmfs/ctl" # the data settles in the deepest level
rm "$M"/f.{1..20}
sync "$M"
sleep 2
full=$(store_bytes)
live=$((4 * 2 * MB))
echo "after rm of 40 MiB of 48: store $full bytes"
[ "$full" -gt $((40 * MB)) ] || fail "space came back without a request: the test proves nothing"
echo compact > "$M/.lsmfs/ctl" || fail "echo compact > .lsmfs/ctl failed"
at_most $((live * 13 / 10 + MB)) "after echo compact"
if echo bogus > "$M/.lsmfs/ctl" 2>/dev/null; then
	fail "an unknown request was accepted"
fi
if cat "$M/.lsmfs/ctl" >/dev/null 2>&1; then
	fail ".lsmfs/ctl is readable"
fi

# --- lsmfs-ctl compact DATADIR on the live mount ---
write_files 25 34
rm "$M"/f.{25..32}
live=$((6 * 2 * MB))
before=$(store_bytes)
out=$("$LSMFS_CTL" compact "$D") || fail "lsmfs-ctl compact on a mounted store: $out"
echo "$out"
echo "$out" | grep -q "is mounted on $M" || fail "lsmfs-ctl did not go through the mount"
at_most $((live * 13 / 10 + MB)) "after lsmfs-ctl compact (was $before)"
if "$LSMFS_CTL" compact "$D" a b 2>/dev/null; then
	fail "a range compaction through the mount was accepted"
fi
[ "$(stat -c %s "$M/f.33")" = $((2 * MB)) ] || fail "a kept file changed"

# --- df on the mount is the data directory's filesystem ---
read -r mbs mblocks mavail < <(stat -f -c '%S %b %a' "$M")
read -r dbs dblocks davail < <(stat -f -c '%S %b %a' "$D")
[ "$mbs" = "$dbs" ] || fail "statfs block size $mbs, data dir's $dbs"
[ "$mblocks" = "$dblocks" ] || fail "statfs blocks $mblocks, data dir's $dblocks"
diff=$(( (mavail - davail) * mbs ))
[ "${diff#-}" -le $((64 * MB)) ] || fail "statfs available $mavail, data dir's $davail"
df -P "$M" | tail -1 | awk -v d="$(df -P "$D" | tail -1 | awk '{print $2}')" \
	'$2 != d { exit 1 }' || fail "df size differs from the data dir's"
umount_fs

# --- by itself: deletion-triggered compaction and the idle pass ---
mount_fs -o idle_compact_ms=500
write_files 40 63
echo compact > "$M/.lsmfs/ctl" # as in the first part
rm "$M"/f.{40..59}
live=$((10 * 2 * MB)) # f.21..24, f.33, f.34 and f.60..63
limit=$((live * 13 / 10 + MB))
for _ in $(seq 1 300); do
	[ "$(store_bytes)" -le "$limit" ] && break
	sleep 0.1
done
at_most "$limit" "30 s after rm, no request"
grep -E '^lsm_(tombstone|idle)_compactions_total [1-9]' "$M/.lsmfs/stats" ||
	fail "no deletion-driven compaction counted"
for i in 21 22 23 24 33 34 60 61 62 63; do
	[ "$(stat -c %s "$M/f.$i")" = $((2 * MB)) ] || fail "f.$i lost"
done
umount_fs
echo OK

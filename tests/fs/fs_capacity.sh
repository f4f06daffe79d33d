#!/bin/bash
# fs_capacity.sh - -o max_size on a real mount.  on_full=error: a writer
# gets ENOSPC at the bound, the files already there are intact, deletes
# give room back, the bound holds across a remount.  on_full=evict: a
# stream of new files keeps the live bytes under the bound, evicting the
# files least recently read first (read in a fixed order, so the order of
# evictions is checkable), never an open file, never a directory; the
# survivors' bytes are intact; lsmfs-ctl check finds the store consistent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}"

KB=1024
MB=$((1024 * KB))
REF=$T/ref
mkdir -p "$REF"

stat_of() {
	awk -v n="$1" '$1 == n { print $2 }' "$M/.lsmfs/stats"
}

live_ok() { # live_ok WHAT: live bytes within max_size
	local live max
	live=$(stat_of lsmfs_live_bytes)
	max=$(stat_of lsmfs_max_size_bytes)
	[ -n "$live" ] && [ -n "$max" ] || fail "$1: no live/max in stats"
	[ "$live" -le "$max" ] || fail "$1: live bytes $live past max_size $max"
}

# mkref NAME SIZE: a random file in $REF, copied to $M
mkref() {
	head -c "$2" /dev/urandom > "$REF/$1"
	cp "$REF/$1" "$M/$1"
}

# --- on_full=error ---
mount_fs -o max_size=4M
mkdir "$M/sub"
for i in 1 2 3; do mkref "f$i" $MB; done
[ "$(stat_of lsmfs_live_bytes)" = $((3 * MB)) ] ||
	fail "live bytes $(stat_of lsmfs_live_bytes), want $((3 * MB))"
if dd if=/dev/urandom of="$M/sub/big" bs=64k count=32 2>"$T/dd.err"; then
	fail "a 2 MiB write past a 4 MiB bound (3 MiB used) succeeded"
fi
grep -q "No space left on device" "$T/dd.err" ||
	fail "the writer did not get ENOSPC: $(cat "$T/dd.err")"
size=$(stat -c %s "$M/sub/big")
[ "$size" -le $MB ] || fail "the refused file holds $size bytes"
for i in 1 2 3; do cmp "$REF/f$i" "$M/f$i" || fail "f$i changed at the bound"; done
live_ok "at the bound"
[ "$(stat_of lsmfs_full_errors_total)" -ge 1 ] || fail "ENOSPC not counted"
# an overwrite in place needs no room; a delete gives room back
dd if="$REF/f2" of="$M/f1" bs=64k conv=notrunc status=none ||
	fail "an overwrite at the bound failed"
cp "$REF/f2" "$REF/f1"
rm "$M/sub/big" "$M/f3"
mkref g1 $MB || fail "a write after a delete failed"
umount_fs
mount_fs -o max_size=4M # counted again at mount
[ "$(stat_of lsmfs_live_bytes)" = $((3 * MB)) ] ||
	fail "live bytes after remount $(stat_of lsmfs_live_bytes)"
if head -c $((2 * MB)) /dev/urandom > "$M/g2" 2>/dev/null; then
	fail "the bound did not hold after a remount"
fi
rm -f "$M/g2"
for f in f1 f2 g1; do cmp "$REF/$f" "$M/$f" || fail "$f changed"; done
umount_fs

# --- on_full=evict ---
rm -rf "$D" "$REF"
mkdir -p "$D" "$REF"
mount_fs -o max_size=4M,on_full=evict,log_level=debug
mkdir "$M/dir"
for i in 0 1 2 3 4 5 6 7; do mkref "c$i" $((400 * KB)); done
# read them in this order: c5 least recently ... c2 most recently
order="5 0 7 3 6 1 4 2"
sleep 0.05
for i in $order; do
	cmp "$REF/c$i" "$M/c$i" || fail "c$i wrong before evictions"
	sleep 0.05
done
exec 4<"$M/c5" # the least recently read is open: never evicted
n=0
while [ $n -lt 8 ]; do
	mkref "n$n" $((400 * KB)) || fail "write of n$n failed"
	live_ok "after n$n"
	n=$((n + 1))
done
exec 4<&-
ls "$M" | sort | tr '\n' ' '
echo
[ -d "$M/dir" ] || fail "a directory was evicted"
[ -e "$M/c5" ] || fail "an open file was evicted"
# the files evicted are the least recently read (c5 aside), in order
gone=0
prefix=true
for i in $order; do
	[ "$i" = 5 ] && continue
	if [ -e "$M/c$i" ]; then
		prefix=false
		cmp "$REF/c$i" "$M/c$i" || fail "survivor c$i changed"
	else
		$prefix || fail "c$i was evicted before a file read earlier"
		gone=$((gone + 1))
	fi
done
for i in $(seq 0 7); do
	cmp "$REF/n$i" "$M/n$i" || fail "new file n$i changed or was evicted"
done
evicted=$(stat_of lsmfs_evicted_files_total)
echo "evicted $evicted files, $gone of the c files"
[ "$gone" -ge 3 ] || fail "only $gone files evicted: the test proves little"
[ "$evicted" = "$gone" ] || fail "evicted counter $evicted, files gone $gone"
grep -q "debug fs: evicted 'c0'" "$T/lsmfs.log" || fail "eviction not logged"
# a file larger than the bound: as in any LRU cache, the stream evicts
# everything else (nothing is open now), then gets ENOSPC
if head -c $((5 * MB)) /dev/urandom > "$M/huge" 2>/dev/null; then
	fail "a 5 MiB file fit under a 4 MiB bound"
fi
live_ok "after the huge write"
[ "$(stat -c %s "$M/huge")" -le $((4 * MB)) ] || fail "huge passed the bound"
umount_fs
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after evictions"

# kill -9 while a stream of writes evicts: the store is consistent, the
# bound holds after the restart, no file holds more than was written
mount_fs -o max_size=2M,on_full=evict
rm -f "$M/huge"
(
	for i in $(seq 1 400); do
		head -c 100000 /dev/urandom > "$M/s$i" 2>/dev/null || true
	done
) &
writer=$!
wait_evictions() { [ "$(stat_of lsmfs_evicted_files_total)" -ge 20 ]; }
for _ in $(seq 1 400); do wait_evictions && break; sleep 0.05; done
wait_evictions || fail "no evictions to interrupt"
crash_fs
wait "$writer" 2>/dev/null || true
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check after kill -9 during evictions"
mount_fs -o max_size=2M,on_full=evict
live_ok "after kill -9 and remount"
for f in "$M"/s*; do
	size=$(stat -c %s "$f")
	[ "$size" -le 100000 ] || fail "$f: $size bytes"
done
umount_fs
"$LSMFS_CTL" check "$D" || fail "lsmfs-ctl check at the end"
if grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/lsmfs*.log; then
	fail "a sanitizer report in the daemons' logs"
fi
echo "fs_capacity: ok"

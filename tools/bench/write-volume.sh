#!/usr/bin/env bash
# write-volume.sh - bytes written to storage (write_bytes of /proc/PID/io)
# by the lsmfs daemon, or by the replicator, for a fixed workload: counts
# that do not move with the load of a shared machine, unlike throughput.
#
#   tools/bench/write-volume.sh stream  [LSMFS]   512 MiB streamed into a
#                                                 store remounted once
#   tools/bench/write-volume.sh random  [LSMFS]   a 256 MiB file, then
#                                                 60,000 random 4 KiB writes
#   tools/bench/write-volume.sh replica [REPL]    512 MiB and 10,000 small
#                                                 files reaching a replica
#
# LSMFS and REPL default to the build in build/; name another binary to
# compare (e.g. one built from an older commit).  Needs /dev/fuse.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: write-volume.sh stream|random|replica [BINARY]}
LSMFS=${LSMFS:-$here/build/fs/lsmfs}
REPL=${REPL:-$here/build/replicate/lsmfs-replicate}
case $mode in
replica) REPL=$(readlink -f "${2:-$REPL}") ;;
*) LSMFS=$(readlink -f "${2:-$LSMFS}") ;;
esac
W=$(mktemp -d /tmp/write-volume.XXXXXX)
rp=
cleanup() {
	[ -n "$rp" ] && kill "$rp" 2>/dev/null && wait "$rp" 2>/dev/null
	grep -q " $W/m " /proc/mounts && fusermount3 -u "$W/m"
	sleep 0.5
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/p" "$W/m"

written() { # PID: MiB written to storage so far
	awk '/^write_bytes/ { printf "%d", $2 / 1048576 }' "/proc/$1/io"
}
daemon() { pgrep -f "^$LSMFS $W/p " | head -1; }

"$LSMFS" "$W/p" "$W/m" -o log="$W/p.log"
case $mode in
stream)
	mkdir "$W/m/a"
	for i in 1 2 3; do echo x >"$W/m/a/$i"; done
	fusermount3 -u "$W/m"
	sleep 1 # the daemon closes the store after the kernel let go
	"$LSMFS" "$W/p" "$W/m" -o log="$W/p.log"
	dd if=/dev/zero of="$W/m/big" bs=1M count=512 conv=fsync status=none
	sleep 5
	echo "stream after a remount: the daemon wrote $(written "$(daemon)") MiB for 512 MiB"
	;;
random)
	dd if=/dev/zero of="$W/m/f" bs=1M count=256 conv=fsync status=none
	python3 - "$W/m/f" <<'EOF'
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
r, buf = random.Random(7), os.urandom(4096)
for _ in range(60000):
    os.pwrite(fd, buf, r.randrange(65536) * 4096)
os.fsync(fd)
os.close(fd)
EOF
	sleep 15
	echo "random 4 KiB writes: the daemon wrote $(written "$(daemon)") MiB" \
	     "(256 MiB file, 60,000 writes); L0 -> L1 compactions:" \
	     "$(grep -c 'L0->L1' "$W/p.log" || true)"
	;;
replica)
	"$REPL" "$W/p" "$W/r" 2>"$W/r.log" &
	rp=$!
	for _ in $(seq 1 100); do [ -f "$W/r/CURRENT" ] && break; sleep 0.1; done
	dd if=/dev/urandom of="$W/m/big" bs=1M count=512 conv=fsync status=none
	mkdir "$W/m/t"
	for d in $(seq 1 20); do
		mkdir "$W/m/t/$d"
		for f in $(seq 1 500); do echo "file $d $f" >"$W/m/t/$d/$f"; done
	done
	sleep 25
	sum=0
	for p in $(pgrep -P "$rp") $rp; do sum=$((sum + $(written "$p"))); done
	echo "replica: the replicator wrote $sum MiB, the primary's daemon" \
	     "$(written "$(daemon)") MiB (512 MiB and 10,000 small files)"
	;;
*)
	echo "write-volume.sh: unknown mode '$mode' (stream, random or replica)" >&2
	exit 2
	;;
esac

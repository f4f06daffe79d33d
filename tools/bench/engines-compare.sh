#!/bin/sh
# engines-compare.sh - the engine rows of README's performance section in
# one go: lsm (defaults), lsm with mmap_reads, LevelDB (and LevelDB with
# verify_checksums, lsm's integrity), RocksDB and LMDB side by side at 1M keys (every engine workload) and at 4M keys (fills, random
# reads and seeks; 1M reads), and fillrandom with every write fsync'ed by 1
# and by 4 threads (group commit).  With BEFORE=path/to/old/lsmfs-bench each
# run is repeated right after by that binary for engine lsm only (its
# "before").  Outputs in OUT (default docs/perf): engines-{1m,4m}.{txt,json,
# svg}, engines-sync-t{1,4}.{txt,json} and the *-before.* files; then
#   python3 tools/bench/engine-table.py docs/perf/engines-1m.json \
#     --before=docs/perf/engines-1m-before.json ...
# prints README's tables.  Environment: BUILD (default build), BEFORE, DB
# (scratch directory, default /tmp/engines-compare; emptied), OUT, REPEAT
# (default 3).
set -eu

BUILD=${BUILD:-build}
B=$BUILD/tools/bench/lsmfs-bench
BEFORE=${BEFORE:-}
D=${DB:-/tmp/engines-compare}
P=${OUT:-docs/perf}
R=${REPEAT:-3}
ENGINES=lsm,lsm-mmap,leveldb,leveldb-verify,rocksdb,lmdb

[ -x "$B" ] || { echo "engines-compare.sh: no $B (build first)" >&2; exit 1; }
rm -rf "$D"
mkdir -p "$D" "$P"

before() { # NAME ARGS...: the same run by the old binary, lsm only
	name=$1
	shift
	[ -n "$BEFORE" ] || return 0
	"$BEFORE" "$@" --engines=lsm --repeat="$R" --db="$D/before" \
		--progress=0 --json="$P/$name-before.json" \
		> "$P/$name-before.txt" 2>&1
	rm -rf "$D/before"
}

for t in 1 4; do
	"$B" --benchmarks=fillrandom --sync=1 --threads=$t --num=20000 \
		--engines=lsm,leveldb,rocksdb,lmdb --repeat="$R" --db="$D/s" \
		--progress=0 --json="$P/engines-sync-t$t.json" \
		> "$P/engines-sync-t$t.txt" 2>&1
	rm -rf "$D/s"
	before engines-sync-t$t --benchmarks=fillrandom --sync=1 \
		--threads=$t --num=20000
done
"$B" --num=1000000 --engines=$ENGINES --repeat="$R" --db="$D/1m" \
	--progress=0 --svg="$P/engines-1m.svg" --json="$P/engines-1m.json" \
	> "$P/engines-1m.txt" 2>&1
rm -rf "$D/1m"
before engines-1m --num=1000000
W4=fillseq,fillrandom,overwrite,readrandom,seekrandom
"$B" --benchmarks=$W4 --num=4000000 --reads=1000000 --engines=$ENGINES \
	--repeat="$R" --db="$D/4m" --progress=0 --svg="$P/engines-4m.svg" \
	--json="$P/engines-4m.json" > "$P/engines-4m.txt" 2>&1
rm -rf "$D/4m"
before engines-4m --benchmarks=$W4 --num=4000000 --reads=1000000
rm -rf "$D"

#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang into build-fuzz and
# runs each for SECONDS (default 60), one after the other, starting from
# the checked-in seeds (tests/fuzz/corpus/TARGET, never written to) plus
# what earlier runs found (build-fuzz/fuzz-corpus/TARGET).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: sst wal manifest codec proto
# Exits 1 when a target crashed, leaked, hit UB or broke a property; the
# input is kept in build-fuzz/fuzz-artifacts/TARGET/ and the message says
# how to replay it.  Exits 77 when clang or libFuzzer is missing.
# Env: FUZZ_BUILD_DIR (default build-fuzz), CC (default clang),
#      FUZZ_ARGS (extra libFuzzer flags, e.g. -dict=... or -jobs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
all=(sst wal manifest codec proto)
secs=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
	secs=$1
	shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
	[ -d "tests/fuzz/corpus/$t" ] || {
		echo "fuzz: unknown target '$t' (have: ${all[*]})" >&2
		exit 2
	}
done

dir=${FUZZ_BUILD_DIR:-build-fuzz}
export CC=${CC:-clang}
command -v "$CC" >/dev/null || {
	echo "fuzz: $CC not found (scripts/install-deps.sh installs clang)" >&2
	exit 77
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" -Dfuzz=enabled -Db_lundef=false \
		-Dbuildtype=debugoptimized >"$log" 2>&1 || {
		cat "$log" >&2
		grep -q 'needs clang with libFuzzer' "$log" && exit 77
		exit 1
	}
fi
ninja -C "$dir" "${targets[@]/#/tests/fuzz/fuzz_}" >"$log" 2>&1 || {
	grep -v '^\[' "$log" >&2
	exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
	work="$dir/fuzz-corpus/$t"
	art="$dir/fuzz-artifacts/$t"
	mkdir -p "$work" "$art"
	case $t in
	codec) maxlen=4096 ;;
	*) maxlen=16384 ;;
	esac
	echo "== fuzz $t for ${secs}s =="
	rc=0
	# shellcheck disable=SC2086
	"$dir/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=2048 -max_len="$maxlen" -print_final_stats=1 \
		-artifact_prefix="$art/" ${FUZZ_ARGS:-} \
		"$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb' \
		"$log" || true
	if [ $rc -ne 0 ]; then
		echo "fuzz: $t FAILED (exit $rc):" >&2
		grep -vE '^#[0-9]+ ' "$log" | tail -n 60 >&2
		echo "fuzz: inputs kept in $art; replay one with" \
		     "$dir/tests/fuzz/fuzz_${t}_replay FILE" >&2
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${secs}s each"

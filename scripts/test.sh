#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole default test suite,
# then the same suites again in an AddressSanitizer + UBSan build (the
# mount tests run the daemon in the foreground: a sanitizer report fails
# them at unmount).
#   scripts/test.sh            default suites (everything but 'slow')
#   SUITES=slow scripts/test.sh   only the long crash/torture loops
# Last, a bounded libFuzzer run of each fuzz target (scripts/fuzz.sh,
# FUZZ_SECONDS each, default 20; FUZZ_SECONDS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
werror=()
[ "${CI:-}" = true ] && werror=(-Dwerror=true)

BUILD_DIR=build scripts/build.sh "${werror[@]}"
if [ -n "${SUITES:-}" ]; then
	meson test -C build --print-errorlogs --suite "$SUITES"
	exit
fi
meson test -C build --print-errorlogs --no-suite slow

echo "== the suite again under AddressSanitizer + UndefinedBehaviorSanitizer =="
BUILD_DIR=build-asan scripts/build.sh "${werror[@]}" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --no-suite slow \
	--timeout-multiplier 3

fuzz_secs=${FUZZ_SECONDS:-20}
if [ "$fuzz_secs" -gt 0 ]; then
	echo "== fuzz targets, ${fuzz_secs}s each (scripts/fuzz.sh) =="
	rc=0
	scripts/fuzz.sh "$fuzz_secs" || rc=$?
	if [ $rc -eq 77 ]; then
		echo "!!!!!!!! SKIPPED the fuzz targets: clang with libFuzzer" \
		     "is not available (scripts/install-deps.sh installs" \
		     "clang and libclang-rt-dev) !!!!!!!!" >&2
	elif [ $rc -ne 0 ]; then
		exit $rc
	fi
fi

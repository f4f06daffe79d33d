#!/usr/bin/env bash
# Configures (once) and builds lsmfs into BUILD_DIR (default: build).
# Extra arguments go to `meson setup` (first configuration only).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
ninja -C "$dir" >"$log" 2>&1 || { grep -v '^\[' "$log" >&2; exit 1; }

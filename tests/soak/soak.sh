#!/usr/bin/env bash
# soak.sh - runs tests/soak/soak.py for LSMFS_SOAK_SECONDS (default 150;
# 3600 for the hour-long soak: LSMFS_SOAK_SECONDS=3600 meson test -C build
# soak).  Needs root (a tmpfs of its own as the nearly full disk).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the soak needs root to mount its small tmpfs" >&2
	exit 77
fi
if ! { exec 9<>/dev/fuse; } 2>/dev/null; then
	echo "SKIP: /dev/fuse cannot be opened" >&2
	exit 77
fi
exec 9>&-
W=$(mktemp -d "${TMPDIR:-/tmp}/lsmfs-soak.XXXXXX")
rc=0
python3 "$(dirname "$0")/soak.py" "$W" "${LSMFS_SOAK_SECONDS:-150}" \
	${LSM_SEED:+"$LSM_SEED"} || rc=$?
for m in "$W"/mr "$W"/mf "$W"/mp "$W"/disk; do
	if grep -q " $m " /proc/mounts; then
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" || true
	fi
done
if [ $rc -ne 0 ]; then
	for f in "$W"/*.log; do
		echo "--- $f" >&2
		tail -n 30 "$f" >&2
	done
fi
rm -rf "$W"
exit $rc

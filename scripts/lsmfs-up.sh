#!/usr/bin/env bash
# The main job: installs what is missing, builds, and mounts a store.
#   scripts/lsmfs-up.sh [DATADIR [MOUNTPOINT [lsmfs options...]]]
# Defaults: DATADIR=./lsmfs-data, MOUNTPOINT=./lsmfs-mnt.  The daemon runs in
# the background; unmount with `fusermount3 -u MOUNTPOINT`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
data=$(realpath -m "${1:-$PWD/lsmfs-data}")
mnt=$(realpath -m "${2:-$PWD/lsmfs-mnt}")
shift $(( $# > 2 ? 2 : $# ))

"$top/scripts/install-deps.sh"
BUILD_DIR="$top/build" "$top/scripts/build.sh"
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	echo "lsmfs-up: $mnt is already a mount point; unmount it first" \
	     "(fusermount3 -u $mnt)" >&2
	exit 1
fi
"$top/build/fs/lsmfs" "$data" "$mnt" "$@"
echo "lsmfs: store $data mounted on $mnt"
echo "  try:      ls -la $mnt; echo hello > $mnt/greeting; cat $mnt/.lsmfs/stats"
echo "  unmount:  fusermount3 -u $mnt"

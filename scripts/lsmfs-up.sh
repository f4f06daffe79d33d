#!/usr/bin/env bash
# The main job: installs what is missing, builds, and mounts a store.
#   scripts/lsmfs-up.sh [DATADIR [MOUNTPOINT [lsmfs options...]]]
# Defaults, outside the repository (nothing lands untracked in it):
#   DATADIR    ${XDG_DATA_HOME:-~/.local/share}/lsmfs/data
#   MOUNTPOINT ${XDG_DATA_HOME:-~/.local/share}/lsmfs/mnt
#   log        ${XDG_STATE_HOME:-~/.local/state}/lsmfs/lsmfs.log (unless
#              options are given)
# The daemon runs in the background; unmount with `fusermount3 -u
# MOUNTPOINT`.  It prints where everything is.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
home=${XDG_DATA_HOME:-$HOME/.local/share}/lsmfs
state=${XDG_STATE_HOME:-$HOME/.local/state}/lsmfs
data=$(realpath -m "${1:-$home/data}")
mnt=$(realpath -m "${2:-$home/mnt}")
shift $(( $# > 2 ? 2 : $# ))
opts=("$@")
log="(syslog, or as your options say)"
if [ ${#opts[@]} -eq 0 ]; then
	mkdir -p "$state"
	log=$state/lsmfs.log
	opts=(-o "log=$log")
fi

"$top/scripts/install-deps.sh"
BUILD_DIR="$top/build" "$top/scripts/build.sh"
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	echo "lsmfs-up: $mnt is already a mount point; unmount it first" \
	     "(fusermount3 -u $mnt)" >&2
	exit 1
fi
"$top/build/fs/lsmfs" "$data" "$mnt" "${opts[@]}"
echo "lsmfs: mounted on $mnt"
echo "  data directory: $data"
echo "  log:            $log"
echo "  try:      ls -la $mnt; echo hello > $mnt/greeting; cat $mnt/.lsmfs/stats"
echo "  unmount:  fusermount3 -u $mnt"

#!/bin/bash
# fs_corner.sh - runs corner.py and random_ops.py against a mounted lsmfs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

mount_fs
python3 "$HERE/corner.py" "$M"
mkdir "$T/local"
python3 "$HERE/random_ops.py" "$M/random" "$T/local/random" \
	"${LSMFS_RANDOM_OPS:-3000}"
umount_fs
echo "fs_corner: OK"

#!/bin/bash
# fs_stale.sh - a name removed (unlinked while open elsewhere, or renamed
# away) while a listing with readdirplus runs must not come back from that
# listing: a file made again under the name, written and fsynced, must be
# there after a remount (stale.py says how).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

mount_fs
rc=0
python3 "$HERE/stale.py" race "$M/big" || rc=$?
umount_fs
mount_fs
# Checked even when the race step failed: it shows whether data was lost.
python3 "$HERE/stale.py" verify "$M/big" || rc=1
umount_fs
[ $rc -eq 0 ] || fail "a removed name came back from a listing"
echo "fs_stale: OK"

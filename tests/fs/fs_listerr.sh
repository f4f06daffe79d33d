#!/bin/bash
# fs_listerr.sh - a listing that fails part-way (a damaged block in the
# middle of a big directory's entries) gives EIO, leaves the daemon serving
# the rest, and leaks nothing: the ASan build's leak check at the daemon's
# exit catches an opendir error path that forgets what it had collected.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MARK=f01500-damaged-entry
mount_fs
mkdir "$M/big"
python3 - "$M/big" "$MARK" <<'PY'
import os, sys
for i in range(3000):
    open(os.path.join(sys.argv[1], "f%05d" % i), "w").close()
open(os.path.join(sys.argv[1], sys.argv[2]), "w").close()
PY
echo intact >"$M/other"
umount_fs
# The entries are in the log; a second mount writes them into a table.
mount_fs
umount_fs
# The name sorts into the middle of big's entries, so its block is neither
# the first the listing reads nor one that a lookup of / or big reads.
python3 - "$D" "$MARK" <<'PY'
import glob, sys
hits = 0
for path in glob.glob(sys.argv[1] + "/*.sst"):
    with open(path, "r+b") as f:
        data = f.read()
        # The table stores the part after what it shares with the key
        # before ("d" ino "f01500"): look for that.
        off = data.find(sys.argv[2].encode()[6:])
        if off >= 0:
            f.seek(off + 4)
            f.write(bytes([data[off + 4] ^ 0x40]))
            hits += 1
sys.exit(0 if hits else "no table holds the entry")
PY

mount_fs -o cache_size=0
if ls "$M/big" >/dev/null 2>"$T/ls.err"; then
	fail "listing a directory over a damaged block succeeded"
fi
grep -q "Input/output error" "$T/ls.err" ||
	fail "expected EIO, got: $(cat "$T/ls.err")"
kill -0 "$LSMFS_PID" || fail "the daemon died"
[ "$(cat "$M/other")" = intact ] || fail "an undamaged file became unreadable"
ls "$M" >/dev/null || fail "listing / failed"
umount_fs # under ASan, a leak makes the daemon exit non-zero
echo "fs_listerr: OK"

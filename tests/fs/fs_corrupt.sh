#!/usr/bin/env bash
# fs_corrupt.sh - corruption found on read: the reader gets EIO, the daemon
# logs a line naming the damaged table, and it stays up serving the rest.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

head -c 1048576 /dev/urandom >"$T/ref"
mount_fs -o cache_size=0
cp "$T/ref" "$M/big"
echo intact >"$M/other"
umount_fs
# The data is in the log; a second mount writes it into a table.
mount_fs
umount_fs
sst=$(ls -S "$D"/*.sst | head -n 1)
[ -n "$sst" ] || fail "no table was written"
size=$(stat -c %s "$sst")
python3 - "$sst" $((size / 2)) <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x40]))
PY

mount_fs -o cache_size=0
if cat "$M/big" >/dev/null 2>"$T/cat.err"; then
	fail "reading a file over a damaged block succeeded"
fi
grep -q "Input/output error" "$T/cat.err" ||
	fail "expected EIO, got: $(cat "$T/cat.err")"
kill -0 "$LSMFS_PID" || fail "the daemon died"
[ "$(cat "$M/other")" = intact ] || fail "an undamaged file became unreadable"
ls -l "$M" >/dev/null || fail "listing failed after the error"
grep -q "$(basename "$sst")" "$T/lsmfs.log" ||
	fail "no log line names $(basename "$sst"): $(tail -n 5 "$T/lsmfs.log")"
umount_fs
echo "fs-corrupt: 1 passed, 0 failed"

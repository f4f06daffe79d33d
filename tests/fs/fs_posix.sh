#!/usr/bin/env bash
# fs_posix.sh - lsmfs behaves like a local filesystem.  posix_compare.py
# runs the same calls in a directory of the local filesystem (under
# $TMPDIR: ext4 or tmpfs) and on a mount, and compares results, errno,
# stat fields, contents, ACLs, SEEK_DATA/SEEK_HOLE maps and directory
# times; then an O_TMPFILE file that never got a name is reclaimed at the
# mount after a crash, and the named ones survive.  Needs root (devices,
# owners, ACLs checked as another uid through allow_other).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: fs_posix needs root (mknod, chown, ACLs as another uid)" >&2
	exit 77
fi
for t in setfacl getfacl getfattr; do
	command -v $t >/dev/null || fail "$t missing (scripts/install-deps.sh)"
done

L=$T/local
mkdir "$L"
echo "local side: $(stat -f -c %T "$L")"
mount_fs -o allow_other
python3 "$(dirname "$0")/posix_compare.py" "$L" "$M"

# Plain fallocate reserves nothing, but refuses what the data directory's
# filesystem cannot hold now (1 PiB), and extends the size otherwise.
touch "$M/prealloc"
if fallocate -l 1P "$M/prealloc" 2>"$T/falloc.err"; then
	fail "fallocate of 1 PiB accepted"
fi
grep -q "No space left" "$T/falloc.err" || fail "fallocate 1P: $(cat "$T/falloc.err")"
fallocate -l 1M "$M/prealloc" || fail "fallocate of 1 MiB refused"
[ "$(stat -c %s "$M/prealloc")" = 1048576 ] || fail "fallocate: size"

# An unnamed O_TMPFILE file open at a crash is an orphan: reclaimed when
# the store is mounted again.
python3 - "$M" "$T/ready" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"t" * (1 << 20))
open(sys.argv[2], "w").close()
time.sleep(120)
PY
HOLDER=$!
for _ in $(seq 1 200); do [ -e "$T/ready" ] && break; sleep 0.05; done
[ -e "$T/ready" ] || fail "tmpfile holder did not start"
crash_fs
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
mount_fs -o allow_other
n=$(awk '/^lsmfs_orphans_reclaimed_at_mount/ {print $2}' "$M/.lsmfs/stats")
[ "${n:-0}" -ge 1 ] || fail "unnamed O_TMPFILE not reclaimed at mount ($n)"
[ "$(stat -c %s "$M/tmpfile/named")" = 100000 ] ||
	fail "a named O_TMPFILE file lost its data across the crash"
[ "$(stat -c %h "$M/tmpfile/named")" = 2 ] || fail "named tmpfile: links"
umount_fs
echo "fs_posix: OK"

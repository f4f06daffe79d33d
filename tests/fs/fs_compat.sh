#!/usr/bin/env bash
# fs_compat.sh - a store written by an older lsmfs (tests/fixtures/store-v0,
# made by the commit before format versioning: WAL with unflushed records,
# L0 and L1 tables, zlib blocks, a symlink, a hard link, an xattr, a fifo, a
# sparse file) still opens and reads back exactly, read-only and read-write,
# and stays readable after a read-write mount has upgraded it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
CTL=${LSMFS_CTL:?LSMFS_CTL must name lsmfs-ctl}
fx=$here/../fixtures

rmdir "$D"
tar -C "$T" -xzf "$fx/store-v0.tar.gz"   # -> $T/data

listing() {
	(cd "$M" && find . -printf '%p %y %m %n %s %l\n' | sort &&
	 find . -type f -exec sha256sum {} + | sort -k2 &&
	 getfattr -d hello)
}

"$CTL" check "$D" >"$T/check.out" || { cat "$T/check.out"; fail "check of the old store"; }

mount_fs -o ro
listing >"$T/ro.txt"
umount_fs
diff -u "$fx/store-v0.expected" "$T/ro.txt" || fail "read-only mount differs"

mount_fs
listing >"$T/rw.txt"
echo new >"$M/new-file"
umount_fs
diff -u "$fx/store-v0.expected" "$T/rw.txt" || fail "read-write mount differs"

mount_fs
[ "$(cat "$M/new-file")" = new ] || fail "write after upgrade lost"
rm "$M/new-file"
listing >"$T/again.txt"
umount_fs
diff -u "$fx/store-v0.expected" "$T/again.txt" || fail "remount differs"
"$CTL" check "$D" >"$T/check.out" || { cat "$T/check.out"; fail "check after upgrade"; }
echo "fs_compat: old store opened, read back and upgraded"

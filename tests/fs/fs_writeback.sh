#!/usr/bin/env bash
# fs_writeback.sh - `-o writeback` (the kernel's writeback cache, off by
# default): what is written, appended, overwritten in place, truncated and
# fsync'ed reads back the same through the mount, after a clean remount,
# and the same as on the local filesystem; -o ro refuses it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

REF=$T/ref
mkdir -p "$REF"
mount_fs -o writeback
grep -q " $M fuse" /proc/mounts || fail "not mounted"

# the same workload on both trees
work() {
	local d=$1
	python3 - "$d" <<'PY'
import os, random, sys
d = sys.argv[1]
rnd = random.Random(13)
for i in range(40):
    p = os.path.join(d, "f%02d" % i)
    with open(p, "wb") as f:
        f.write(rnd.randbytes(rnd.randrange(0, 70000)))
    with open(p, "r+b") as f:
        for _ in range(20):
            size = os.fstat(f.fileno()).st_size
            f.seek(rnd.randrange(0, size + 5000))
            f.write(rnd.randbytes(rnd.randrange(1, 9000)))
        if i % 3 == 0:
            f.truncate(rnd.randrange(0, 40000))
        f.flush()
        os.fsync(f.fileno())
    with open(p, "ab") as f:
        f.write(b"tail%d" % i)
PY
	tar -xf - -C "$d" < <(tar -cf - -C "$(dirname "$0")" .)
}
work "$REF"
work "$M"
sum() { (cd "$1" && find . -type f ! -path './.lsmfs/*' -print0 | sort -z |
	xargs -0 sha256sum) ; }
[ "$(sum "$M")" = "$(sum "$REF")" ] || fail "contents differ (mounted)"
umount_fs
mount_fs
[ "$(sum "$M")" = "$(sum "$REF")" ] || fail "contents differ (remount)"
umount_fs
if "$LSMFS" "$D" "$M" -f -o ro,writeback 2>"$T/ro.err"; then
	fail "-o ro,writeback mounted"
fi
grep -q writeback "$T/ro.err" || fail "no message naming writeback"
echo "fs_writeback: ok"

#!/usr/bin/env bash
# fs_overlay.sh - overlayfs with its upper and work directories on lsmfs
# (the lower layer on the local filesystem), as container runtimes and
# build sandboxes stack it: writes, copy-up, deletion of a lower file (a
# whiteout: RENAME_WHITEOUT / O_TMPFILE on lsmfs), rename and removal of a
# lower directory, then a remount of everything and the same view again.
#  1. default options, as root (overlayfs keeps its state in trusted.*);
#  2. index=on,nfs_export=on: file handles encoded, caches dropped,
#     decoded again, also after a remount of everything;
#  3. rootless: an unprivileged user (uid 1000) in its own user namespace
#     mounts overlayfs with userxattr (user.overlay.* attributes).
# Skips (77) only where the kernel has no overlayfs; part 3 is skipped,
# saying so, where unprivileged user namespaces are not allowed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: fs_overlay needs root to mount overlayfs" >&2
	exit 77
fi
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
if ! grep -qw overlay /proc/filesystems; then
	echo "SKIP: the kernel has no overlayfs" >&2
	exit 77
fi
HERE=$(cd "$(dirname "$0")" && pwd)
O=$T/ovl
trap 'rc=$?; umount "$O" 2>/dev/null || true; cleanup "$rc"' EXIT

# view DIR: every path with its type, mode and contents, sorted.
view() {
	(cd "$1" && find . -printf '%p %y %m\n' | sort &&
		find . -type f -exec md5sum {} + | sort -k2)
}

make_lower() { # make_lower DIR
	mkdir -p "$1/ldir/sub" "$1/gone"
	echo lower >"$1/lf"
	echo keep >"$1/keep"
	echo inner >"$1/ldir/inner"
	echo deep >"$1/ldir/sub/deep"
	echo g >"$1/gone/g"
}

work_on() { # work_on OVERLAY: the same changes every time
	echo new >"$1/newf"
	echo more >>"$1/lf"               # copy-up
	rm "$1/keep"                       # whiteout
	mv "$1/ldir" "$1/ldir2"            # rename of a lower directory
	rm -r "$1/gone"                    # removal of a lower directory
	mkdir "$1/nd" && echo x >"$1/nd/x"
}

# whiteout FILE: a 0:0 character device
is_whiteout() {
	[ "$(stat -c '%F %t:%T' "$1")" = "character special file 0:0" ]
}

mount_ovl() { # mount_ovl OPTS (lower $L, upper/work in $M)
	mount -t overlay overlay -o "lowerdir=$L,upperdir=$M/upper,workdir=$M/work$1" "$O" ||
		fail "overlay mount with upper on lsmfs failed (options '$1'): $(dmesg 2>/dev/null | tail -3)"
}

# ---- 1. default options ----
L=$T/lower
mkdir -p "$L" "$O"
make_lower "$L"
mount_fs -o allow_other
mkdir "$M/upper" "$M/work"
mount_ovl ""
work_on "$O"
is_whiteout "$M/upper/keep" || fail "no whiteout for a deleted lower file"
[ -f "$M/upper/newf" ] || fail "new file not in the upper layer"
view "$O" >"$T/view1"
grep -q "./ldir2/sub/deep" "$T/view1" || fail "renamed lower directory lost"
grep -q "./keep " "$T/view1" && fail "deleted lower file still seen"
grep -q "./gone" "$T/view1" && fail "removed lower directory still seen"
umount "$O"
umount_fs
mount_fs -o allow_other
mount_ovl ""
view "$O" >"$T/view2"
diff "$T/view1" "$T/view2" || fail "overlay view changed across a remount"
umount "$O"
echo "overlay, default options: OK"

# ---- 2. index=on, nfs_export=on ----
rm -rf "$M/upper" "$M/work"
mkdir "$M/upper" "$M/work"
mount_ovl ",index=on,nfs_export=on"
grep " $O overlay " /proc/mounts | grep -q "index=on" ||
	fail "index=on not kept: $(grep " $O overlay " /proc/mounts)"
grep " $O overlay " /proc/mounts | grep -q "nfs_export=on" ||
	fail "nfs_export=on not kept"
work_on "$O"
ln "$O/lf" "$O/lf-link"   # a hard link of a copied-up file: the index
view "$O" >"$T/view3"
python3 "$HERE/fhandle.py" encode "$O/lf" "$O/newf" "$O/ldir2/inner" \
	"$O/lf-link" "$O/ldir2/sub/deep" >"$T/handles"
grep -q ERR "$T/handles" && fail "encoding file handles: $(cat "$T/handles")"
sync
echo 2 >/proc/sys/vm/drop_caches # the kernel must ask lsmfs again
python3 "$HERE/fhandle.py" decode "$O" <"$T/handles" >"$T/decoded1"
printf 'lower\nnew\ninner\nlower\ndeep\n' >"$T/want"
diff "$T/want" "$T/decoded1" || fail "file handles do not decode"
umount "$O"
umount_fs
mount_fs -o allow_other
mount_ovl ",index=on,nfs_export=on"
view "$O" >"$T/view4"
diff "$T/view3" "$T/view4" || fail "index=on view changed across a remount"
python3 "$HERE/fhandle.py" decode "$O" <"$T/handles" >"$T/decoded2"
diff "$T/want" "$T/decoded2" || fail "file handles stale after a remount"
umount "$O"
echo "overlay, index=on,nfs_export=on (file handles across a remount): OK"

# ---- 3. rootless: uid 1000 in a user namespace, userxattr ----
as_user() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
if ! command -v setpriv >/dev/null || ! as_user unshare -Urm true 2>/dev/null
then
	echo "SKIP (part 3): unprivileged user namespaces are not allowed here"
	umount_fs
	exit 0
fi
UL=$T/ulower
mkdir -p "$UL" "$T/uovl"
make_lower "$UL"
chown -R 1000:1000 "$UL" "$T/uovl"
mkdir "$M/uupper" "$M/uwork"
chown 1000:1000 "$M/uupper" "$M/uwork"
chmod 755 "$T"
rootless() { # rootless 'COMMANDS' in a fresh user+mount namespace
	as_user unshare -Urm bash -euc "
		mount -t overlay overlay -o userxattr,lowerdir=$UL,upperdir=$M/uupper,workdir=$M/uwork $T/uovl
		cd $T/uovl
		$1"
}
rootless "$(declare -f work_on view); work_on .; view ." >"$T/view5" ||
	fail "rootless overlay with userxattr on lsmfs failed"
is_whiteout "$M/uupper/keep" || fail "rootless: no whiteout"
grep -q "./ldir2/sub/deep" "$T/view5" || fail "rootless: renamed dir lost"
grep -q "./keep " "$T/view5" && fail "rootless: deleted lower file seen"
getfattr -d -m '^user\.overlay\.' -R "$M/uupper" >"$T/uxattrs" 2>/dev/null
grep -q "user.overlay" "$T/uxattrs" ||
	fail "rootless: no user.overlay.* attribute in the upper layer"
umount_fs
mount_fs -o allow_other
rootless "$(declare -f view); view ." >"$T/view6"
diff "$T/view5" "$T/view6" || fail "rootless view changed across a remount"
umount_fs
echo "overlay, rootless in a user namespace with userxattr: OK"

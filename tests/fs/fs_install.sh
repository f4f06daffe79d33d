#!/usr/bin/env bash
# fs_install.sh - `meson install` into a temporary DESTDIR, then use what
# it installed as a user would:
#   - the programs, man pages, headers, liblsm (SONAME liblsm.so.N),
#     liblsm.pc, the mount helper, systemd examples, bash completion;
#   - a small program built against the installed liblsm with pkg-config
#     (shared, then static) runs;
#   - the fstab path: `mount -T FSTAB MNT` with type fuse.lsmfs finds
#     /sbin/mount.fuse.lsmfs, which starts the installed lsmfs (mount
#     gives helpers no useful PATH).  Runs in a private mount namespace in
#     which the DESTDIR's prefix and helper are bound over the system's
#     (skipped where unshare(1) is not allowed);
#   - the lsmfs-ctl completion completes commands and flags.
# Environment: MESON, BUILD_ROOT, PREFIX, LIBDIR, BINDIR, HELPER_DIR,
# SANITIZE (the build's b_sanitize).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${MESON:?}" "${BUILD_ROOT:?}" "${PREFIX:?}" "${LIBDIR:?}" "${BINDIR:?}"
R=$T/root
"$MESON" install -C "$BUILD_ROOT" --no-rebuild --destdir "$R" --quiet \
	>"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "meson install"; }
P=$R$PREFIX
case $LIBDIR in /*) L=$R$LIBDIR ;; *) L=$P/$LIBDIR ;; esac
for f in "$P/$BINDIR/lsmfs" "$P/$BINDIR/lsmfs-ctl" "$P/$BINDIR/lsmfs-bench" \
	"$P/share/man/man8/lsmfs.8" "$P/share/man/man1/lsmfs-ctl.1" \
	"$P/share/man/man1/lsmfs-bench.1" "$P/include/lsm/lsm.h" \
	"$P/include/lsm/lsm_io.h" "$P/include/lsm/lsm_tool.h" \
	"$L/liblsm.so" "$L/liblsm.a" "$L/pkgconfig/liblsm.pc" \
	"$P/share/bash-completion/completions/lsmfs-ctl" \
	"$P/share/doc/lsmfs/abi.md" \
	"$P/share/doc/lsmfs/examples/systemd/srv-lsmfs.mount" \
	"$P/share/doc/lsmfs/examples/systemd/lsmfs@.service"; do
	[ -e "$f" ] || fail "not installed: ${f#"$R"}"
done
[ -z "${HELPER_DIR:-}" ] || [ -x "$R$HELPER_DIR/mount.fuse.lsmfs" ] ||
	fail "no mount helper in $HELPER_DIR"
soname=$(readelf -d "$L/liblsm.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
case $soname in liblsm.so.[0-9]*) ;; *) fail "SONAME is '$soname'" ;; esac
[ -e "$L/$soname" ] || fail "$soname not installed"
other=$(nm -D --defined-only "$L/liblsm.so" | awk '$3 !~ /^lsm_/ && $2 != "A"')
[ -z "$other" ] || fail "liblsm.so exports internal symbols: $other"
"$P/$BINDIR/lsmfs" --version >/dev/null || fail "installed lsmfs --version"

# ---- a program built against the installed library ----
cat >"$T/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <lsm.h>

int main(int argc, char **argv)
{
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char val[16];
	size_t n = 0;

	if (argc != 2 || lsm_open(argv[1], NULL, &db, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 1;
	}
	if (lsm_put(db, "k", 1, "embedded", 8, &err) < 0 ||
	    lsm_get_buf(db, NULL, "k", 1, val, sizeof(val), &n, &err) != 1 ||
	    n != 8 || memcmp(val, "embedded", 8) != 0) {
		fprintf(stderr, "put/get: %s\n", err.msg);
		return 1;
	}
	printf("liblsm %s: %.*s\n", lsm_version(), (int)n, val);
	return lsm_close(db, &err) < 0;
}
C
export PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R
cflags=$(pkg-config --cflags liblsm) || fail "pkg-config liblsm"
san=
[ -z "${SANITIZE:-}" ] || [ "$SANITIZE" = none ] || san="-fsanitize=$SANITIZE"
# shellcheck disable=SC2086
cc $san -o "$T/prog" "$T/prog.c" $cflags $(pkg-config --libs liblsm) ||
	fail "cannot build against the installed liblsm"
LD_LIBRARY_PATH=$L "$T/prog" "$T/db" >"$T/prog.out" || fail "program failed"
grep -q ": embedded$" "$T/prog.out" || fail "program: $(cat "$T/prog.out")"
# (no `ldd | grep -q` under pipefail: grep's early exit can kill ldd)
libs=$(LD_LIBRARY_PATH=$L ldd "$T/prog")
grep -q "$soname => $L/" <<<"$libs" ||
	fail "program does not use the installed $soname: $libs"
# shellcheck disable=SC2086
cc $san -o "$T/prog-static" "$T/prog.c" $cflags \
	$(pkg-config --libs --static liblsm | sed "s|-llsm|$L/liblsm.a|") ||
	fail "cannot build statically against the installed liblsm"
"$T/prog-static" "$T/db2" >/dev/null || fail "static program failed"

# ---- bash completion ----
out=$(bash -c '
	. "$1"
	COMP_WORDS=(lsmfs-ctl st); COMP_CWORD=1; _lsmfs_ctl; echo "${COMPREPLY[*]}"
	COMP_WORDS=(lsmfs-ctl repair /tmp --d); COMP_CWORD=3; _lsmfs_ctl
	echo "${COMPREPLY[*]}"
	COMP_WORDS=(lsmfs-ctl --log-level=w); COMP_CWORD=1; _lsmfs_ctl
	echo "${COMPREPLY[*]}"' _ "$P/share/bash-completion/completions/lsmfs-ctl")
[ "$out" = "$(printf 'stats\n--dry-run --drop-tables\nwarn')" ] ||
	fail "completion gave: $out"

# ---- fstab: mount -T with type fuse.lsmfs ----
if [ -z "${HELPER_DIR:-}" ]; then
	echo "fs_install: no mount helper configured: fstab part skipped"
	exit 0
fi
if ! unshare -m --propagation private true 2>/dev/null; then
	echo "fs_install: SKIP fstab part: unshare -m not allowed here" >&2
	exit 0
fi
farm=$T/sbin
mkdir "$farm"
sbin=$(realpath "$HELPER_DIR")
for f in "$sbin"/*; do ln -s "$f" "$farm/"; done
ln -sf "$R$HELPER_DIR/mount.fuse.lsmfs" "$farm/mount.fuse.lsmfs"
printf '# fstab for fs_install.sh\n%s %s fuse.lsmfs defaults,sync=manual,log=%s,x-systemd.requires=/ 0 0\n' \
	"$D" "$M" "$T/fstab.log" >"$T/fstab"
unshare -m --propagation private bash -euo pipefail -c '
	mount --bind "$1" "$2"
	mount --bind "$3" "$4"
	env -i /usr/bin/mount -T "$5" "$6"
	grep -q " $6 fuse.lsmfs " /proc/self/mounts
	echo via-fstab >"$6/file"
	pid=$(cat "$7/LOCK")
	fusermount3 -u "$6"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
' _ "$P" "$PREFIX" "$farm" "$sbin" "$T/fstab" "$M" "$D" ||
	fail "mount -T fstab failed: $(cat "$T/fstab.log" 2>/dev/null)"
grep -q "info mount: mounted $D on $M" "$T/fstab.log" ||
	fail "the fstab mount did not run the installed lsmfs"
"$P/$BINDIR/lsmfs-ctl" get "$D" file >"$T/got" || fail "ctl get"
[ "$(cat "$T/got")" = via-fstab ] || fail "fstab mount lost the file"
echo "fs_install: ok ($soname)"

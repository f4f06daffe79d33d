#!/usr/bin/env bash
# fs_killpriv.sh - lsmfs kills privileges itself (the kernel leaves it to
# the filesystem with FUSE_HANDLE_KILLPRIV_V2): writes, truncations
# (ftruncate and open O_TRUNC) and chown clear set-user-ID and set-group-ID
# and remove security.capability exactly as the local filesystem under
# /tmp does, for a writer without privileges (run through setpriv as
# nobody) and for root; the result survives a remount, and the kernel
# asks no getxattr before each write.  Needs root and setpriv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "SKIP: needs root and setpriv" >&2
	exit 77
fi
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
HAVE_SETCAP=0
command -v setcap >/dev/null && command -v getcap >/dev/null && HAVE_SETCAP=1

REF=$T/ref
mkdir -p "$REF"
chmod 777 "$REF"
mount_fs -o allow_other
chmod 755 "$M"
mkdir "$M/k"
chmod 777 "$M/k"

# state FILE: octal mode with the special bits, and the capability.
state() {
	local caps=""

	[ $HAVE_SETCAP -eq 1 ] && caps=$(getcap "$1" | awk '{print $2}')
	echo "$(stat -c %a "$1") ${caps:-nocap}"
}

# case NAME MODE CAP WHO CMD: makes NAME (mode MODE, capability CAP or
# "-") in both trees, runs CMD (with $F set to the file) as WHO (root or
# nobody) in each, and checks that lsmfs ends where the local fs does.
declare -A WANT
case_() {
	local name=$1 mode=$2 cap=$3 who=$4 cmd=$5 dir got want

	for dir in "$REF" "$M/k"; do
		printf 'data\n' >"$dir/$name"
		chmod 666 "$dir/$name"
		if [ "$cap" != - ] && [ $HAVE_SETCAP -eq 1 ]; then
			setcap "$cap" "$dir/$name"
		fi
		chmod "$mode" "$dir/$name"
		if [ "$who" = nobody ]; then
			F=$dir/$name "${NOBODY[@]}" bash -c "$cmd"
		else
			F=$dir/$name bash -c "$cmd"
		fi
	done
	want=$(state "$REF/$name")
	got=$(state "$M/k/$name")
	[ "$got" = "$want" ] ||
		fail "$name ($who: $cmd on $mode): lsmfs '$got', local '$want'"
	WANT[$name]=$want
	echo "ok $name: $want"
}

# A writer without CAP_FSETID loses set-user-ID, and set-group-ID when
# the group may execute.
case_ w_suid 6777 - nobody 'echo more >>"$F"'
case_ w_sgid_noexec 2766 - nobody 'echo more >>"$F"'
case_ w_pwrite 4777 - nobody 'printf x | dd of="$F" bs=1 seek=2 conv=notrunc status=none'
case_ tr_suid 6777 - nobody 'truncate -s 2 "$F"'
case_ tr_grow 6777 - nobody 'truncate -s 100000 "$F"'
case_ otrunc_suid 6777 - nobody ': >"$F"'
# root keeps them on write and truncate
case_ w_root 6777 - root 'echo more >>"$F"'
case_ tr_root 6777 - root 'truncate -s 1 "$F"'
case_ otrunc_root 6777 - root ': >"$F"'
# chown clears them for anyone, changed owner or not
case_ chown_same 6755 - root 'chown 0:0 "$F"'
case_ chown_sgid_noexec 2745 - root 'chown 0:0 "$F"'
case_ chgrp 6755 - root 'chgrp 65534 "$F"'
case_ chmod_only 6755 - root 'chmod 6750 "$F"'
if [ $HAVE_SETCAP -eq 1 ]; then
	# security.capability goes on write, truncation and chown, also
	# for root, and stays otherwise
	case_ cap_write 755 cap_net_raw+ep root 'echo more >>"$F"'
	case_ cap_write_nobody 777 cap_net_raw+ep nobody 'echo more >>"$F"'
	case_ cap_trunc 755 cap_net_raw+ep root 'truncate -s 1 "$F"'
	case_ cap_otrunc 755 cap_net_raw+ep root ': >"$F"'
	case_ cap_chown 755 cap_net_raw+ep root 'chown 0:0 "$F"'
	case_ cap_read 755 cap_net_raw+ep root 'cat "$F" >/dev/null'
	case_ cap_chmod 755 cap_net_raw+ep root 'chmod 750 "$F"'
fi

# Kept across a remount (they were in the store, not only in caches).
umount_fs
mount_fs -o allow_other
for name in "${!WANT[@]}"; do
	got=$(state "$M/k/$name")
	[ "$got" = "${WANT[$name]}" ] ||
		fail "$name after remount: '$got', want '${WANT[$name]}'"
done

# The kernel no longer asks security.capability before every write: 100
# appends cost at most a couple of getxattr calls.
printf 'x' >"$M/k/many"
before=$(awk -F'[ ]' '/^lsmfs_operations_total\{op="getxattr"\}/ {print $2}' \
	"$M/.lsmfs/stats")
for _ in $(seq 1 100); do printf 'y' >>"$M/k/many"; done
after=$(awk -F'[ ]' '/^lsmfs_operations_total\{op="getxattr"\}/ {print $2}' \
	"$M/.lsmfs/stats")
[ -n "$before" ] && [ -n "$after" ] ||
	fail "no getxattr count in $M/.lsmfs/stats"
[ $((after - before)) -le 5 ] ||
	fail "100 appends asked getxattr $((after - before)) times"
[ "$(stat -c %s "$M/k/many")" = 101 ] || fail "appends lost"
umount_fs
echo "fs_killpriv: ok"

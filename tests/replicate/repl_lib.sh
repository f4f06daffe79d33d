# repl_lib.sh - helpers of the replication tests, on top of tests/fs/lib.sh
# (sourced after it): extra mounts, replicator processes, waiting for a
# replica to match a tree.  Needs REPL (lsmfs-replicate) and FAKE_SSH.

: "${REPL:?REPL must name lsmfs-replicate}"
: "${FAKE_SSH:?FAKE_SSH must name tests/replicate/fake_ssh.sh}"
EXTRA_MOUNTS=()
BG_PIDS=()

# mount_at DIR MNT [opts...]: an lsmfs mount (in the background) of DIR.
mount_at() {
	local dir=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	"$LSMFS" "$dir" "$mnt" -f "$@" 2>>"$T/lsmfs-extra.log" &
	local pid=$!
	EXTRA_MOUNTS+=("$mnt:$pid")
	for _ in $(seq 1 200); do
		if grep -q " $mnt fuse" /proc/mounts && stat "$mnt/." >/dev/null 2>&1
		then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { tail "$T/lsmfs-extra.log" >&2;
			fail "lsmfs of $dir exited before mounting"; }
		sleep 0.05
	done
	fail "lsmfs of $dir did not mount"
}

umount_at() {
	local mnt=$1 e
	fusermount3 -u "$mnt"
	for e in "${EXTRA_MOUNTS[@]}"; do
		if [ "${e%%:*}" = "$mnt" ]; then
			wait "${e##*:}" 2>/dev/null || true
		fi
	done
}

# start_repl NAME ARGS...: lsmfs-replicate in the background, its log in
# $T/NAME.log, its pid in $T/NAME.pid.
start_repl() {
	local name=$1
	shift
	"$REPL" --log-level debug --stats "$T/$name.stats" "$@" \
		2>>"$T/$name.log" &
	echo $! >"$T/$name.pid"
	BG_PIDS+=($!)
}

stop_repl() {
	local pid
	pid=$(cat "$T/$1.pid")
	kill "${2:--TERM}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stat_of NAME METRIC: a figure of a replicator's --stats file.
stat_of() {
	awk -v m="$2" '$1 == m { print $2 }' "$T/$1.stats" 2>/dev/null || true
}

# wait_same A B [SECONDS]: until trees A and B are equal (diff -r).
wait_same() {
	local deadline=$(( $(date +%s) + ${3:-60} ))
	while ! diff -r "$1" "$2" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			diff -r "$1" "$2" | head -20 >&2 || true
			fail "$2 did not come to match $1"
		fi
		sleep 0.2
	done
}

repl_cleanup() {
	local e pid
	for pid in "${BG_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	for e in "${EXTRA_MOUNTS[@]}"; do
		if grep -q " ${e%%:*} fuse" /proc/mounts 2>/dev/null; then
			fusermount3 -u -z "${e%%:*}" 2>/dev/null || true
		fi
		kill "${e##*:}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

# show logs on failure, then lib.sh's cleanup
repl_exit() {
	local rc=$?
	repl_cleanup
	if [ $rc -ne 0 ]; then
		for f in "$T"/*.log; do
			echo "--- $f ---" >&2
			tail -n 30 "$f" >&2
		done
	fi
	cleanup "$rc"
}
trap repl_exit EXIT

# crash_at MNT: kill -9 the lsmfs serving MNT and drop the dead mount.
crash_at() {
	local mnt=$1 e
	for e in "${EXTRA_MOUNTS[@]}"; do
		if [ "${e%%:*}" = "$mnt" ]; then
			kill -9 "${e##*:}" 2>/dev/null || true
			wait "${e##*:}" 2>/dev/null || true
		fi
	done
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
}

# pid_at MNT: the lsmfs serving MNT (the last mounted there).
pid_at() {
	local e pid=
	for e in "${EXTRA_MOUNTS[@]}"; do
		if [ "${e%%:*}" = "$1" ]; then pid=${e##*:}; fi
	done
	echo "$pid"
}

#!/usr/bin/env bash
# fs_metrics.sh - logs and metrics of a real mount:
#   - MNT/.lsmfs/stats, the HTTP endpoint (-o metrics) and `lsmfs-ctl
#     stats` of the mounted and of the unmounted store are valid Prometheus
#     text (tests/support/promcheck.py: HELP/TYPE per family, families
#     whole, counters _total); lsmfs-ctl stats of a mounted store shows the
#     mount's figures, not zeros;
#   - the endpoint is read-only (POST: 405) and serves /metrics only;
#   - -o log=FILE: every line has a timestamp, a level and a component;
#     flushes, compactions and recovery are logged; log_level filters.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${LSMFS_CTL:?}"
CHECK="python3 $(dirname "$0")/../support/promcheck.py"
LOG=$T/daemon.log

# the checker itself refuses what it must
printf 'a_total 1\n' | $CHECK --expect-fail - || fail "promcheck: no HELP"
printf '# HELP a_total x\n# TYPE a_total counter\na_total{op="r"} 1\n# HELP b x\n# TYPE b gauge\nb 1\na_total{op="w"} 2\n' |
	$CHECK --expect-fail - || fail "promcheck: interleaved"
printf '# HELP a x\n# TYPE a counter\na 1\n' | $CHECK --expect-fail - ||
	fail "promcheck: counter without _total"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mount_fs -o log="$LOG",log_level=info,metrics="$port",memtable_size=64k,table_size=64k
for i in $(seq 1 40); do
	head -c 65536 /dev/urandom >"$M/f$i"
done
sync "$M/f1"
rm "$M"/f1?
$CHECK "$M/.lsmfs/stats" || fail ".lsmfs/stats is not valid exposition text"
grep -q '^lsm_level_tables{level="0"} [0-9]' "$M/.lsmfs/stats" ||
	fail "no per-level label"
grep -q '^# TYPE lsmfs_operations_total counter$' "$M/.lsmfs/stats" ||
	fail "no lsmfs_operations_total family"
# the daemon's time per operation: the writes above took some, less than
# the test so far; an operation never made took none
secs() { awk -v k="lsmfs_operation_seconds_total{op=\"$1\"}" \
	'$1 == k { print $2 }' "$M/.lsmfs/stats"; }
w=$(secs write)
awk -v w="$w" -v lim="$SECONDS" 'BEGIN { exit !(w > 0 && w < lim + 1) }' ||
	fail "lsmfs_operation_seconds_total{op=\"write\"} is '$w'"
[ "$(secs fallocate)" = 0.000000000 ] ||
	fail "fallocate took time without a call: '$(secs fallocate)'"
# tools/bench/fs-daemon-time.py reads them around a command: ten files
# read, an open each (more for its own reads of the stats)
python3 "$(dirname "$0")/../../tools/bench/fs-daemon-time.py" "$M" -- \
	sh -c "cat '$M'/f2? >/dev/null" >"$T/dtime.txt" ||
	fail "fs-daemon-time.py failed: $(cat "$T/dtime.txt")"
grep -Eq '^wall [0-9.]+ s, [0-9]+ requests, daemon [0-9.]+ s, the rest' \
	"$T/dtime.txt" || fail "fs-daemon-time.py: $(head -1 "$T/dtime.txt")"
opens=$(awk '$1 == "open" { print $2 }' "$T/dtime.txt")
[ "${opens:-0}" -ge 10 ] ||
	fail "fs-daemon-time.py counts ${opens:-no} opens: $(cat "$T/dtime.txt")"

# closes in the middle of a read (the release may reach the daemon while
# the read's reply is still being written: caught by the ASan run)
readers=()
for i in $(seq 1 100); do
	head -c 10 "$M/.lsmfs/stats" >/dev/null &
	readers+=($!)
	grep -q '^lsm_' "$M/.lsmfs/stats" &
	readers+=($!)
	cat "$M/.lsmfs/stats" >/dev/null
done
wait "${readers[@]}" # not the daemon, a child of this shell too
kill -0 "$LSMFS_PID" || fail "the daemon died reading stats"

# ---- the HTTP endpoint ----
url=http://127.0.0.1:$port
curl -sS -D "$T/headers" -o "$T/http.txt" "$url/metrics" ||
	fail "GET /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" ||
	fail "wrong content type: $(cat "$T/headers")"
$CHECK "$T/http.txt" || fail "/metrics is not valid exposition text"
grep -q '^lsmfs_operations_total{op="write"} [1-9]' "$T/http.txt" ||
	fail "/metrics lacks the writes"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/metrics")" = 405 ] ||
	fail "POST was not refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" = 404 ] ||
	fail "/ was served"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url/metrics")" = 200 ] ||
	fail "HEAD /metrics failed"
if curl -s -o /dev/null --max-time 2 "http://[::1]:$port/metrics"; then
	fail "the endpoint listens beyond 127.0.0.1"
fi

# ---- lsmfs-ctl stats finds the mount ----
"$LSMFS_CTL" stats "$D" >"$T/ctl-live.txt" || fail "ctl stats (mounted)"
$CHECK "$T/ctl-live.txt" || fail "ctl stats (mounted): not valid"
grep -q '^lsmfs_operations_total{op="write"} [1-9]' "$T/ctl-live.txt" ||
	fail "ctl stats of a mounted store does not show the mount's figures"
grep -q "^# from the mount on $M\$" "$T/ctl-live.txt" ||
	fail "ctl stats does not name the mount"

# ---- a second mount on the same port: a clear error, nothing mounted ----
M2=$T/mnt2
mkdir "$M2"
if "$LSMFS" "$T/other" "$M2" -o metrics="$port" 2>"$T/port.err"; then
	fusermount3 -u "$M2"
	fail "a second endpoint on a used port"
fi
grep -q "cannot listen on 127.0.0.1 port $port" "$T/port.err" ||
	fail "unclear port error: $(cat "$T/port.err")"
umount_fs

# ---- the unmounted store ----
"$LSMFS_CTL" stats "$D" >"$T/ctl-off.txt" || fail "ctl stats (unmounted)"
$CHECK "$T/ctl-off.txt" || fail "ctl stats (unmounted): not valid"

# ---- logs ----
re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z lsmfs\[[0-9]+\] (error|warn|info|debug) [a-z]+: '
bad=$(grep -Evc "$re" "$LOG" || true)
[ "$bad" -eq 0 ] || fail "$bad log lines without timestamp/level/component: $(grep -Ev "$re" "$LOG" | head -3)"
for what in "info engine: opened" "info engine: flushed the memtable" \
	"info engine: compacted" "info mount: mounted" "info mount: unmounted" \
	"info metrics: serving http://127.0.0.1:$port/metrics"; do
	grep -q "$what" "$LOG" || fail "log lacks '$what'"
done
grep -q " debug " "$LOG" && fail "debug lines at log_level=info"

# recovery after kill -9 is logged; log_level=warn leaves info out
mount_fs -o log="$LOG"
echo after >"$M/last"
crash_fs
mount_fs -o log="$T/warn.log",log_level=warn
[ "$(cat "$M/last")" = after ] || fail "write lost"
umount_fs
grep -q " info " "$T/warn.log" && fail "info lines at log_level=warn"
mount_fs -o log="$LOG"
echo again >"$M/last"
crash_fs
mount_fs -o log="$LOG",log_level=debug
umount_fs
grep -q "info engine: recovery: replayed [1-9][0-9]* log records" "$LOG" ||
	fail "recovery not logged"

# foreground default: stderr, same line format
: >"$T/lsmfs.log"
mount_fs
umount_fs
grep -Eq "${re}mounted" "$T/lsmfs.log" ||
	fail "foreground mount did not log to stderr: $(head -3 "$T/lsmfs.log")"

# lsmfs-ctl: --log and --log-level
"$LSMFS_CTL" --log="$T/ctl.log" --log-level=info info "$D" >/dev/null ||
	fail "ctl --log"
grep -Eq '^[0-9T:.Z-]+ lsmfs-ctl\[[0-9]+\] info engine: opened' "$T/ctl.log" ||
	fail "ctl did not log to its file"
"$LSMFS_CTL" --log-level=loud info "$D" 2>/dev/null && fail "bad level accepted"
echo "fs_metrics: ok"

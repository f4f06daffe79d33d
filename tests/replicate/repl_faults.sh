#!/usr/bin/env bash
# repl_faults.sh - lsmfs-replicate under faults: a stream that is cut
# mid-message and has a bit flipped in transit (through the ssh path)
# resumes each time without resending anything already applied, and the
# damage is detected, never applied; over TCP the shared key is required
# both ways (a wrong key, a key file others can read); a replica whose
# disk fills reports it while the primary goes on.
set -euo pipefail
. "$(dirname "$0")/../fs/lib.sh"
. "$(dirname "$0")/repl_lib.sh"

P=$T/primary
R=$T/replica
mkdir -p "$P"
mount_at "$P" "$T/mp" -o memtable_size=256K,sync=always
MP=$T/mp
for i in $(seq 1 100); do echo "before $i" >"$MP/a$i"; done

# a writer that keeps going while the stream suffers
pad=$(head -c 1500 /dev/zero | tr '\0' x)
( for i in $(seq 1 2000); do
	echo "during $i $RANDOM $pad" >"$MP/b$i"
	[ $((i % 100)) -eq 0 ] && sleep 0.2
  done ) &
writer=$!

export FAKE_SSH_FILTER="python3 $(dirname "$0")/fault_pipe.py"
export FAULT_STATE=$T/fault.state
# session 1: bootstrap then cut; 2: a flipped bit among records;
# 3: cut mid-record; 4: another flip; then clean
export FAULTS="cut:300000 flip:50000 cut:150000 flip:100000"
start_repl r -e "$FAKE_SSH" --remote-path "$REPL" "fakehost:$P" "$R"
wait $writer
for _ in $(seq 1 300); do [ -f "$R/CURRENT" ] && break; sleep 0.1; done
mount_at "$R" "$T/mr" -o ro
wait_same "$MP" "$T/mr" 90
sessions=$(cat "$FAULT_STATE")
[ "$sessions" -ge 5 ] || fail "only $sessions sessions: the faults did not all happen"
grep -qi "checksum" "$T/r.log" || fail "no transit damage was reported"
sleep 1.5 # the stats file is rewritten every second
boots=$(stat_of r lsmfs_replica_bootstraps_total)
ops=$(stat_of r lsmfs_replica_ops_total)
applied=$(stat_of r lsmfs_replica_applied_seq)
bseq=$(stat_of r lsmfs_replica_bootstrap_seq)
[ "$boots" = 1 ] || fail "$boots bootstraps (a resumed stream bootstrapped)"
# nothing applied twice: every sequence number after the bootstrap once
[ "$ops" -eq $((applied - bseq)) ] ||
	fail "resent after faults: $ops operations applied for $((applied - bseq)) sequence numbers"
stop_repl r
umount_at "$T/mr"
unset FAKE_SSH_FILTER

# ---- TCP with a shared key ----
head -c 48 /dev/urandom >"$T/key"
chmod 600 "$T/key"
head -c 48 /dev/urandom >"$T/wrong"
chmod 600 "$T/wrong"
port=$((20000 + RANDOM % 20000))
start_repl d --listen "127.0.0.1:$port" --key "$T/key" "$P"
sleep 0.5
echo "over tcp" >"$MP/tcp"
"$REPL" --once --key "$T/key" "lsmfs://127.0.0.1:$port" "$T/rt" \
	2>"$T/tcp.log" || fail "TCP replication failed: $(tail -3 "$T/tcp.log")"
"$LSMFS_CTL" get "$T/rt" tcp | grep -q "over tcp" || fail "TCP replica lacks data"
if "$REPL" --once --key "$T/wrong" "lsmfs://127.0.0.1:$port" "$T/rw" \
	2>"$T/wrongkey.log"; then
	fail "a wrong key was accepted"
fi
grep -q "refused" "$T/d.log" || fail "the daemon did not log the refused key"
[ ! -f "$T/rw/CURRENT" ] || fail "a wrong key got data"
chmod 644 "$T/wrong"
if "$REPL" --once --key "$T/wrong" "lsmfs://127.0.0.1:$port" "$T/rw" \
	2>"$T/perm.log"; then
	fail "a key file others can read was used"
fi
grep -qi "readable\|permission\|mode" "$T/perm.log" ||
	fail "no clear message for a world-readable key: $(cat "$T/perm.log")"
stop_repl d

# ---- a full replica disk (needs root for a small tmpfs) ----
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/small"
	mount -t tmpfs -o size=2m tmpfs "$T/small"
	dd if=/dev/urandom of="$MP/big" bs=1M count=6 status=none
	if "$REPL" --once "$P" "$T/small/r" 2>"$T/full.log"; then
		umount "$T/small"
		fail "replicating 6 MiB into 2 MiB succeeded"
	fi
	umount "$T/small"
	grep -qi "no space\|disk is full\|full" "$T/full.log" ||
		fail "a full replica disk was not reported: $(tail -3 "$T/full.log")"
	echo "the primary still writes" >"$MP/after-full" ||
		fail "the primary suffered from the replica's full disk"
else
	echo "SKIP: full replica disk (needs root for tmpfs)" >&2
fi
echo "replication faults: OK"

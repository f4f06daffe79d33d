#!/bin/bash
# test_ctl.sh - lsmfs-ctl end to end: every subcommand on a real store, the
# exit codes for missing, foreign, in-use and damaged stores (damaged tables
# and a damaged filesystem), and --help.
# Usage: test_ctl.sh LSMFS_CTL CTL_HOLDER CTL_DAMAGE
set -u
CTL=$1
HOLDER=$2
DAMAGE=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/ctltest.XXXXXX")
HOLDER_PID=
cleanup() {
	[ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null
	exec 7>&- 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect RC DESCRIPTION CMD...: runs CMD (stdout to $T/out, stderr $T/err).
expect() {
	local want=$1 what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$what"
	else
		bad "$what: exit $rc, wanted $want"
		sed 's/^/  stderr: /' "$T/err" | head -5
	fi
}
# has FILE PATTERN DESCRIPTION: FILE has a line matching PATTERN (grep -E).
has() {
	if grep -qE -- "$2" "$1"; then ok "$3"; else
		bad "$3: no line matching '$2' in $1"; sed 's/^/  | /' "$1" | head -10
	fi
}

D=$T/store

# ---- usage and help ----
expect 0 "--help" "$CTL" --help
has "$T/out" "^Usage: lsmfs-ctl" "--help prints usage"
has "$T/out" "^  scan +\(ro\)" "--help marks read-only commands"
expect 0 "--version" "$CTL" --version
has "$T/out" "^lsmfs-ctl [0-9]" "--version prints the version"
expect 0 "help scan" "$CTL" help scan
has "$T/out" "^Usage: lsmfs-ctl scan DATADIR" "help scan shows usage"
has "$T/out" "read-only" "help scan says read-only"
expect 0 "scan --help" "$CTL" scan --help
has "$T/out" "^Usage: lsmfs-ctl scan DATADIR" "scan --help shows usage"
for c in get put delete scan stats compact check repair dump info; do
	expect 0 "$c --help" "$CTL" $c --help
done
expect 64 "no arguments" "$CTL"
expect 64 "unknown command" "$CTL" frobnicate "$D"
has "$T/err" "unknown command 'frobnicate'" "unknown command is named"
expect 64 "unknown option" "$CTL" get --bogus "$D" k
expect 64 "missing DATADIR" "$CTL" get
expect 64 "help of an unknown command" "$CTL" help frobnicate

# ---- errors before any store exists ----
expect 3 "get on a missing dir" "$CTL" get "$T/nope" k
has "$T/err" "no such data directory" "missing dir message"
expect 3 "put on a missing dir" "$CTL" put "$T/nope" k v
[ -e "$T/nope" ] && bad "put created the missing dir" || ok "missing dir left alone"
expect 3 "check on a missing dir" "$CTL" check "$T/nope"
mkdir "$T/foreign" && echo hi >"$T/foreign/notes.txt"
expect 4 "get on a foreign dir" "$CTL" get "$T/foreign" k
has "$T/err" "not an lsmfs store" "foreign dir message"
expect 4 "put on a foreign dir" "$CTL" put "$T/foreign" k v
expect 4 "check on a foreign dir" "$CTL" check "$T/foreign"
[ "$(ls "$T/foreign")" = notes.txt ] && ok "foreign dir untouched" ||
	bad "foreign dir was written to: $(ls "$T/foreign")"
mkdir "$T/empty"
expect 4 "info on an empty dir" "$CTL" info "$T/empty"

# ---- put / get ----
expect 0 "put --create" "$CTL" put --create "$D" a/b/c hello
expect 0 "get" "$CTL" get "$D" a/b/c
printf hello | cmp -s - "$T/out" && ok "get prints the value exactly" ||
	bad "get output differs"
head -c 300000 /dev/urandom >"$T/bin"
expect 0 "put binary from stdin" "$CTL" put "$D" x/bin.dat - <"$T/bin"
expect 0 "get binary" "$CTL" get "$D" x/bin.dat
cmp -s "$T/bin" "$T/out" && ok "binary round trip byte-exact" ||
	bad "binary round trip differs"
expect 0 "put empty value" "$CTL" put "$D" a/empty ""
expect 0 "get empty value" "$CTL" get "$D" a/empty
[ -s "$T/out" ] && bad "empty value not empty" || ok "empty value round trip"
printf 'v\n' | "$CTL" put "$D" a-x && ok "put from stdin without -" ||
	bad "put from stdin without -"
expect 0 "overwrite" "$CTL" put "$D" a/b/c "hello again"
expect 0 "get overwritten" "$CTL" get "$D" a/b/c
[ "$(cat "$T/out")" = "hello again" ] && ok "overwrite visible" ||
	bad "overwrite not visible"
expect 1 "get a missing key" "$CTL" get "$D" no/such
has "$T/err" "no/such: no such file" "missing key message"
expect 6 "put an invalid key" "$CTL" put "$D" "a/../b" v
long=$(printf 'n%.0s' $(seq 300))
expect 6 "put a key with a too-long name" "$CTL" put "$D" "a/$long/c" v
has "$T/err" "^lsmfs-ctl: key 'a/n{38}\.\.\.' \(304 bytes\): a component of 300 bytes, over the limit of 255 bytes per name$" \
	"too-long key: what is wrong and the limit, the key cut"
[ "$(wc -l <"$T/err")" -eq 1 ] && ok "too-long key: one line" ||
	bad "too-long key: $(wc -l <"$T/err") lines"
expect 1 "the too-long key was not stored" "$CTL" get "$D" a/b/n

# ---- scan ----
expect 0 "scan all" "$CTL" scan "$D"
printf 'a-x\t2\na/b/c\t11\na/empty\t0\nx/bin.dat\t300000\n' >"$T/want"
cmp -s "$T/want" "$T/out" && ok "scan lists every file in path order" ||
	{ bad "scan output"; diff "$T/want" "$T/out"; }
expect 0 "scan prefix" "$CTL" scan "$D" a/
printf 'a/b/c\t11\na/empty\t0\n' | cmp -s - "$T/out" &&
	ok "scan a/ lists the subtree" || { bad "scan a/"; cat "$T/out"; }
expect 0 "scan range" "$CTL" scan "$D" a-x a/e
printf 'a-x\t2\na/b/c\t11\n' | cmp -s - "$T/out" &&
	ok "scan START END is half-open" || { bad "scan range"; cat "$T/out"; }
expect 0 "scan --values" "$CTL" scan --values "$D" a-
printf 'a-x\tv\\x0a\n' | cmp -s - "$T/out" &&
	ok "scan --values prints escaped contents" ||
	{ bad "scan --values"; cat -A "$T/out"; }

# ---- delete ----
expect 0 "delete" "$CTL" delete "$D" a-x
expect 1 "get deleted" "$CTL" get "$D" a-x
expect 1 "delete missing" "$CTL" delete "$D" a-x
expect 6 "delete non-empty dir" "$CTL" delete "$D" a

# ---- stats, info ----
expect 0 "stats" "$CTL" stats "$D"
has "$T/out" '^lsm_puts_total [0-9]+$' "stats has lsm_puts_total"
has "$T/out" '^lsm_level_tables\{level="0"\} [0-9]+$' "stats has per-level tables"
has "$T/out" '^# tables per level: L[0-9]+=[0-9]+' "stats has the level summary"
expect 0 "info" "$CTL" info "$D"
has "$T/out" '^table format: [0-9]+$' "info shows the table format"
has "$T/out" '^namespace format: 1 ' "info shows the namespace format"
has "$T/out" '^level [0-9]+: [0-9]+ tables?, ' "info shows a level"
has "$T/out" '^  L[0-9]+ [0-9]{6}\.sst ' "info lists tables"
has "$T/out" '^files on disk: ' "info shows the total size"

# ---- dump ----
sst=$(cd "$D" && ls *.sst | head -1)
wal=$(cd "$D" && ls *.wal | tail -1)
man=$(cd "$D" && ls MANIFEST-* | head -1)
expect 0 "dump a table" "$CTL" dump "$D" "$sst"
has "$T/out" "^'\\\\x00sb' @[0-9]+ put 24 " "dump of a table shows the superblock entry"
expect 0 "put before dumping the log" "$CTL" put "$D" logged/key value1
wal=$(cd "$D" && ls *.wal | tail -1)
expect 0 "dump a log" "$CTL" dump "$D" "$wal"
has "$T/out" '^@0 batch seq [0-9]+, [0-9]+ ops?$' "dump of a log shows batches"
has "$T/out" "^  'c.*' @[0-9]+ put 6 'value1'$" "dump of a log shows ops"
man=$(cd "$D" && ls MANIFEST-* | head -1)
expect 0 "dump the manifest" "$CTL" dump "$D" "$man"
has "$T/out" '^@0 edit$' "dump of the manifest shows edits"
has "$T/out" '^  add L[0-9]+ [0-9]{6} [0-9]+ bytes ' "manifest edits list tables"
has "$T/out" '^  add L[0-9]+ .* \([0-9]+ entries, [0-9]+ deletions\)$' \
	"manifest edits show each table's counts"
expect 64 "dump CURRENT" "$CTL" dump "$D" CURRENT

# ---- compact ----
expect 0 "compact" "$CTL" compact "$D"
has "$T/out" '^before: L0=' "compact prints the levels before"
# one level, no L0; an lsmfs store's tables are cut where the key's kind
# changes (the mount's options, which lsmfs-ctl uses for such a store)
has "$T/out" '^after: L[1-9]=[1-9]$' "compact leaves one level"
expect 0 "get after compact" "$CTL" get "$D" x/bin.dat
cmp -s "$T/bin" "$T/out" && ok "data intact after compact" ||
	bad "data differs after compact"
expect 0 "compact a range" "$CTL" compact "$D" 'c' 'j'
expect 64 "compact with START only" "$CTL" compact "$D" c

# ---- check ----
expect 0 "check a clean store" "$CTL" check "$D"
has "$T/out" "no problems found" "check says clean"
has "$T/out" "^$D: filesystem: [0-9]+ inodes \([0-9]+ directories\), .*: consistent$" \
	"check checks the filesystem"
cp -r "$D" "$T/fsdamaged"
"$DAMAGE" "$T/fsdamaged" rm-inode a/b/c && "$DAMAGE" "$T/fsdamaged" nlink x/bin.dat 5 ||
	bad "ctl_damage failed"
expect 1 "check a damaged filesystem" "$CTL" check "$T/fsdamaged"
has "$T/out" "^/a/b/c \(inode [0-9]+\): entry: names inode [0-9]+, which has no inode record$" \
	"check names the dangling entry"
has "$T/out" "^/a/b/c \(inode [0-9]+\): chunk: 1 data chunk, but no inode record$" \
	"check names the chunk of no inode"
has "$T/out" "^/x/bin.dat \(inode [0-9]+\): nlink: link count 5, but 1 entry names it$" \
	"check names the wrong link count"
has "$T/out" "^$T/fsdamaged: filesystem: .*: 3 problems$" "filesystem summary"
has "$T/out" "^$T/fsdamaged: 3 problems found$" "check counts filesystem problems"
expect 0 "check --no-fs skips the filesystem" "$CTL" check --no-fs "$T/fsdamaged"
has "$T/out" "no problems found" "check --no-fs says clean"
grep -q filesystem "$T/out" && bad "check --no-fs checked the filesystem" ||
	ok "check --no-fs prints no filesystem line"
rm -rf "$T/fsdamaged"
cp -r "$D" "$T/damaged"
sst=$(cd "$T/damaged" && ls *.sst | head -1)
printf 'XXXX' | dd of="$T/damaged/$sst" bs=1 seek=20 conv=notrunc 2>/dev/null
expect 1 "check a damaged table" "$CTL" check "$T/damaged"
has "$T/out" "^$T/damaged/$sst@[0-9]+: checksum mismatch" "check names the damaged table"
has "$T/out" "1 problem found" "check counts the problem"
has "$T/out" "filesystem not checked" "check skips the filesystem of a damaged store"
expect 5 "get from a damaged table" "$CTL" get "$T/damaged" x/bin.dat
rm -rf "$T/damaged"
cp -r "$D" "$T/damaged"
printf 'garbage\n' >"$T/damaged/CURRENT"
expect 1 "check with a garbage CURRENT" "$CTL" check "$T/damaged"
has "$T/out" "^$T/damaged/CURRENT: " "check names CURRENT"
expect 5 "open with a garbage CURRENT" "$CTL" info "$T/damaged"

# ---- repair ----
# R: a filesystem whose live log holds 30 file creations (one record each)
R=$T/rep
expect 0 "repair: a store" "$CTL" put --create "$R" a/b/c hello
"$DAMAGE" "$R" files d/f 30 || bad "ctl_damage files failed"
wal=$(cd "$R" && ls *.wal | tail -1)
off=$("$CTL" dump "$R" "$wal" | sed -n 's/^@\([0-9]*\) batch.*/\1/p' | sed -n 20p)
printf '\x55' | dd of="$R/$wal" bs=1 seek=$((off + 12)) conv=notrunc 2>/dev/null
expect 5 "repair: the damaged log refuses to open" "$CTL" get "$R" d/f1
expect 3 "repair on a missing dir" "$CTL" repair "$T/nope"
expect 4 "repair on a foreign dir" "$CTL" repair "$T/foreign"
(cd "$R" && ls -l && md5sum *) >"$T/before"
expect 1 "repair --dry-run finds the damage" "$CTL" repair --dry-run "$R"
has "$T/out" "^$R/$wal@$off: corrupt record at offset $off \(checksum mismatch; a valid record follows at offset [0-9]+\); the log is cut there$" \
	"repair names the segment and offset"
has "$T/out" "^would drop: [0-9]+ log records \([0-9]+ intact, 1 damaged\), [0-9]+ keys, [0-9]+ bytes" \
	"repair --dry-run counts what it would drop"
has "$T/out" "dry run: nothing was changed" "repair --dry-run says so"
(cd "$R" && ls -l && md5sum *) >"$T/after"
cmp -s "$T/before" "$T/after" && ok "repair --dry-run changes nothing" ||
	{ bad "repair --dry-run changed files"; diff "$T/before" "$T/after"; }
expect 0 "repair" "$CTL" repair "$R"
has "$T/out" "^  dropped [0-9]+ bytes, saved in $R/lost/$wal\.at-$off$" \
	"repair saves the dropped tail in lost/"
has "$T/out" "^recovered: [0-9]+ log records" "repair counts what it kept"
has "$T/out" "^  keys dropped: '" "repair shows the first keys dropped"
has "$T/out" "the store opens \(repaired\)" "repair reopens the store"
has "$T/out" "filesystem: .*: consistent$" "repair checks the filesystem"
size=$(stat -c %s "$R/lost/$wal.at-$off")
[ "$size" -gt 0 ] && ok "lost/ holds the tail" || bad "lost/ tail empty"
expect 0 "repair: a file written before the damage" "$CTL" get "$R" d/f1
[ "$(cat "$T/out")" = "contents of 1" ] && ok "repair: kept file intact" ||
	bad "repair: kept file differs"
expect 1 "repair: a file written after the damage is gone" "$CTL" get "$R" d/f29
expect 0 "check after repair" "$CTL" check "$R"
expect 0 "repair again: nothing to repair" "$CTL" repair "$R"
has "$T/out" "nothing to repair" "repair again says nothing to repair"
# a damaged table: kept by default, dropped with --drop-tables
cp -r "$R" "$T/rept"
sst=$(cd "$T/rept" && ls *.sst | tail -1)
printf 'XXXX' | dd of="$T/rept/$sst" bs=1 seek=20 conv=notrunc 2>/dev/null
expect 1 "repair keeps a damaged table" "$CTL" repair "$T/rept"
has "$T/out" "^$T/rept/$sst: checksum mismatch" "repair names the damaged table"
has "$T/out" "^  covers keys '.*' \.\. '.*'$" "repair shows the table's key range"
has "$T/out" "left in the manifest" "repair leaves the table listed"
[ -f "$T/rept/$sst" ] && ok "the kept table stays in place" || bad "kept table moved"
expect 5 "reads in the kept table's range fail" "$CTL" get "$T/rept" d/f1
expect 0 "repair --drop-tables (the filesystem holds up)" "$CTL" repair --drop-tables "$T/rept"
has "$T/out" "dropped from the manifest, moved to $T/rept/lost/$sst$" \
	"repair --drop-tables moves the table to lost/"
has "$T/out" "warning: older versions of its keys" "repair --drop-tables warns"
has "$T/out" "^files in the range of $T/rept/$sst:$" "repair names the files in the range"
has "$T/out" "^  /a/b/c$" "repair names a file in the range"
has "$T/out" "filesystem: .*: consistent$" "repair --drop-tables checks the filesystem"
[ -f "$T/rept/lost/$sst" ] && [ ! -e "$T/rept/$sst" ] &&
	ok "the dropped table is in lost/" || bad "dropped table not in lost/"
rm -rf "$T/rept"
# a value lost from a kept log segment (the value log): the table that
# points there is kept, only that file fails, and repair names it
V=$T/repv
expect 0 "repair: a value-log store" "$CTL" put --create "$V" a/b/c hello
"$DAMAGE" "$V" vfiles v/g 20 || bad "ctl_damage vfiles failed"
seg=$(cd "$V" && grep -l 'v/g7x' *.wal | head -1)
off=$(grep -abo 'v/g7xxxx' "$V/$seg" | head -1 | cut -d: -f1)
if [ -n "$seg" ] && [ -n "$off" ]; then
	printf 'ZZ' | dd of="$V/$seg" bs=1 seek=$((off + 100)) conv=notrunc 2>/dev/null
	expect 1 "repair keeps a table whose value is lost" "$CTL" repair "$V"
	has "$T/out" ": 1 value in the log unreadable, the first: checksum mismatch" \
		"repair counts the lost value and says why"
	has "$T/out" "reads of the 1 value it lost fail" "repair says only that value fails"
	has "$T/out" "^files whose data .* points to in the log is lost" \
		"repair names the files that lost data"
	has "$T/out" "^  /v/g7$" "repair names exactly the damaged file"
	grep -q "^  /v/g8$" "$T/out" && bad "repair named an intact file" ||
		ok "repair names no intact file"
	expect 5 "the damaged file reads fail" "$CTL" get "$V" v/g7
	expect 0 "another file of the same table reads" "$CTL" get "$V" v/g8
	expect 1 "check finds the lost value" "$CTL" check "$V"
	has "$T/out" "$seg: .*checksum mismatch" "check names the segment"
else
	bad "no log segment holds v/g7's data"
fi
rm -rf "$V"

# ---- in use ----
mkfifo "$T/fifo"
"$HOLDER" "$D" <"$T/fifo" >"$T/ready" 2>&1 &
HOLDER_PID=$!
exec 7>"$T/fifo"
for _ in $(seq 300); do grep -q ready "$T/ready" && break; sleep 0.1; done
grep -q ready "$T/ready" || bad "the holder did not open the store within 30 s"
expect 2 "put while in use" "$CTL" put "$D" k v
has "$T/err" "in use by process $HOLDER_PID" "in-use message names the pid"
expect 2 "compact while in use" "$CTL" compact "$D"
expect 0 "get while in use (read-only)" "$CTL" get "$D" a/b/c
expect 0 "check while in use" "$CTL" check "$D"
expect 2 "repair while in use" "$CTL" repair "$D"
has "$T/err" "in use by process $HOLDER_PID" "repair: in-use message names the pid"
expect 2 "repair --dry-run while in use" "$CTL" repair --dry-run "$D"
exec 7>&-
wait "$HOLDER_PID"
HOLDER_PID=
expect 0 "put after the holder exits" "$CTL" put "$D" k v

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# fake_ssh.sh HOST COMMAND: what `ssh HOST COMMAND` does with a remote
# shell, run here (the tests have no sshd): COMMAND is one string that a
# POSIX shell parses, so lsmfs-replicate's quoting of remote arguments is
# exercised as with ssh.  FAKE_SSH_FILTER, when set, is a command the
# remote side's output passes through (a fault injector).
host=$1
shift
[ "$#" -eq 1 ] || { echo "fake_ssh: expected one command string" >&2; exit 255; }
echo "$host" >>"${FAKE_SSH_LOG:-/dev/null}"
if [ -n "${FAKE_SSH_FILTER:-}" ]; then
	sh -c "$1" | $FAKE_SSH_FILTER
else
	exec sh -c "$1"
fi

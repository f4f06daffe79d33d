#!/bin/sh
# build-passthrough.sh - compiles libfuse's passthrough examples (the
# reference FUSE filesystems lsmfs is compared with) and its `null` example
# (a file that discards what is written: the FUSE ceiling for streaming)
# into a build directory.
# Usage: build-passthrough.sh [OUTDIR]   (default: build-bench/passthrough)
# Sources: $FUSE_EXAMPLES or /usr/share/doc/libfuse3-dev/examples (Debian's
# libfuse3-dev).  Prints the directory holding passthrough, passthrough_ll
# and null.
set -eu

src=${FUSE_EXAMPLES:-/usr/share/doc/libfuse3-dev/examples}
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$here/build-bench/passthrough}
cc=${CC:-cc}

for f in passthrough.c passthrough_ll.c passthrough_helpers.h null.c; do
	if [ ! -r "$src/$f" ] && [ ! -r "$src/$f.gz" ]; then
		echo "build-passthrough: $src/$f not found (install libfuse3-dev" \
		     "or set FUSE_EXAMPLES)" >&2
		exit 1
	fi
done
if ! pkg-config --exists fuse3; then
	echo "build-passthrough: pkg-config cannot find fuse3" >&2
	exit 1
fi
mkdir -p "$out"
cp "$src/passthrough_helpers.h" "$out/"
for prog in passthrough passthrough_ll null; do
	# Debian may ship the sources gzip'ed.
	if [ -r "$src/$prog.c" ]; then
		cp "$src/$prog.c" "$out/$prog.c"
	else
		gzip -dc "$src/$prog.c.gz" > "$out/$prog.c"
	fi
	# shellcheck disable=SC2046
	$cc -O2 -Wall -o "$out/$prog" "$out/$prog.c" \
		$(pkg-config fuse3 --cflags --libs) -lpthread
done
echo "$out"

#!/usr/bin/env bash
# Installs, with apt-get, whatever lsmfs needs to build, test, mount and
# benchmark that is not installed yet.  Safe to run again; does nothing when
# everything is present.  Needs root (or sudo) only when something is missing.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc libc6-dev zlib1g-dev libdeflate-dev libcmocka-dev
      libfuse3-dev liburing-dev libsodium-dev fuse3 attr acl rsync git tar python3 time
      libmicrohttpd-dev curl # lsmfs -o metrics (HTTP endpoint), and its test
      libleveldb-dev librocksdb-dev liblmdb-dev
      clang libclang-rt-dev) # clang + its libFuzzer/ASan runtimes: scripts/fuzz.sh
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	}
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null

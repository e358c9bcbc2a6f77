#!/usr/bin/env bash
# docker_runtime_deps.sh - the runtime stage of docker/Dockerfile installs
# what certnode and certctl load: every package it names exists in
# Debian's package lists, and every shared library the two binaries need
# (ELF NEEDED) comes from one of those packages or their dependencies.
# There is no Docker engine here to build the image; this is what would
# break it (a misnamed package, a library added to the build but not to
# the image).
#   docker_runtime_deps.sh DOCKERFILE BINARY...
set -euo pipefail
dockerfile=$1
shift

# The package names of the second stage's apt-get install.
pkgs=$(awk '/^FROM /{stage++} stage==2' "$dockerfile" |
  sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' |
  grep -vE '^(apt-get|install|update|rm|rf|run)$' | sort -u)
[ -n "$pkgs" ] || { echo "no runtime packages found in $dockerfile"; exit 1; }
if ! apt-cache show libc6 >/dev/null 2>&1; then
  echo "no Debian package lists here (apt-get update): skipped"
  exit 77
fi

fail=0
for p in $pkgs; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    echo "FAIL: $dockerfile installs '$p', which Debian does not have"
    fail=1
  fi
done

# Everything those packages pull in.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances $pkgs 2>/dev/null |
  grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u)

# The package owning the file the loader resolves @lib to for @bin (dpkg
# may know it under /lib or /usr/lib: merged /usr).
owner_of() {
  local path
  path=$(ldd "$1" | awk -v l="$2" '$1 == l { print $3 }')
  [ -n "$path" ] || return 0
  { dpkg -S "$path" || dpkg -S "$(realpath "$path")" ||
    dpkg -S "${path#/usr}" || dpkg -S "/usr$path"; } 2>/dev/null |
    head -1 | cut -d: -f1
}

for bin in "$@"; do
  for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    owner=$(owner_of "$bin" "$lib")
    if [ -z "$owner" ]; then
      echo "FAIL: no installed package provides $lib (needed by $bin)"
      fail=1
    elif ! grep -qx "$owner" <<<"$closure"; then
      echo "FAIL: $bin needs $lib from $owner, which the image does not install"
      fail=1
    else
      echo "ok   $(basename "$bin"): $lib ($owner)"
    fi
  done
done
exit $fail

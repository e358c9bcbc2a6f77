#!/usr/bin/env bash
# Install the Debian packages listed in .ci/packages.txt that are missing.
# As root it installs them; otherwise it says which are missing and fails.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t wanted < <(grep -v '^#' packages.txt | grep -v '^$')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"

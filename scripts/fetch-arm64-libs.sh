#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch Debian's arm64 static libraries that AArch64 builds link: libfdt (EL2
# image) and check + subunit (cross-built unit tests). Downloaded with
# `apt-get download` and unpacked with `dpkg -x` into a cache outside the repo.
# Prints the sysroot directory.
set -euo pipefail
cache=${TALLY_CACHE:-$HOME/.cache/tally}
root=$cache/arm64-sysroot
pkgs=(libfdt-dev libfdt1 check libsubunit-dev libsubunit0)
stamp=$root/.stamp-$(echo "${pkgs[*]}" | md5sum | cut -c1-8)
if [ -f "$stamp" ]; then echo "$root"; exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq >&2
fi
if ! apt-cache show libfdt-dev:arm64 >/dev/null 2>&1; then
    $SUDO apt-get update -qq >&2
fi
mkdir -p "$cache/debs" "$root"
cd "$cache/debs"
for p in "${pkgs[@]}"; do
    ls "${p}"_*_arm64.deb >/dev/null 2>&1 || apt-get download -q "$p:arm64" >&2
done
for p in "${pkgs[@]}"; do dpkg -x "$(ls "${p}"_*_arm64.deb | head -n1)" "$root"; done
touch "$stamp"
echo "$root"

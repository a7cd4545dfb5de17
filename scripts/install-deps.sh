#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install every Debian package Tally's build, tests and benchmarks need.
# Idempotent, apt only. QEMU comes from bookworm-backports (QEMU >= 9 has
# raspi4b and fast pointer authentication); the backports address is derived
# from the machine's own apt sources, never written here.
set -euo pipefail

PKGS=(make gcc libc6-dev pkg-config check libfdt-dev device-tree-compiler
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
      clang lld llvm libclang-rt-14-dev clang-format
      gdb-multiarch u-boot-qemu u-boot-tools cpio mtools dosfstools xz-utils
      qemu-system-arm qemu-user python3)
BACKPORTS_PKGS=(qemu-system-arm qemu-user)

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

codename() { . /etc/os-release; echo "${VERSION_CODENAME:-bookworm}"; }

# debian_uri: the main Debian archive as the machine's apt sources name it.
. "$(dirname "$0")/lib-debian.sh"

need_update=0
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

cn=$(codename)
bp_list=/etc/apt/sources.list.d/tally-backports.list
if [ "$cn" = bookworm ] && ! grep -rqs "${cn}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(debian_uri | head -n1)
    if [ -z "$uri" ]; then
        echo "install-deps: cannot find a Debian archive in the apt sources" >&2
        exit 1
    fi
    echo "deb $uri ${cn}-backports main" | $SUDO tee "$bp_list" >/dev/null
    need_update=1
fi

# QEMU must be >= 9: an older one (bookworm's 7.2) is replaced by backports.
qemu_ok=0
if command -v qemu-system-aarch64 >/dev/null; then
    v=$(qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1)
    [ "${v:-0}" -ge 9 ] && qemu_ok=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $qemu_ok = 1 ]; then
    exit 0
fi

[ $need_update = 1 ] || [ ! -d /var/lib/apt/lists ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] && need_update=1
$SUDO apt-get update -qq || true
other=()
for p in "${missing[@]}"; do
    case " ${BACKPORTS_PKGS[*]} " in *" $p "*) ;; *) other+=("$p") ;; esac
done
[ ${#other[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${other[@]}"
if [ "$cn" = bookworm ]; then
    $SUDO apt-get install -y -qq --no-install-recommends -t "${cn}-backports" "${BACKPORTS_PKGS[@]}"
else
    $SUDO apt-get install -y -qq --no-install-recommends "${BACKPORTS_PKGS[@]}"
fi
echo "install-deps: done"

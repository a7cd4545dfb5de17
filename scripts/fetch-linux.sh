#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch the Linux guest's parts from Debian's arm64 archive with
# `apt-get download` and unpack them with `dpkg -x` into a cache outside the
# repo ($TALLY_CACHE, default ~/.cache/tally):
#   - the current arm64 kernel: the package linux-image-arm64 depends on
#     (its vmlinuz-* is already an uncompressed arm64 Image);
#   - busybox-static, the whole initramfs userland in one binary;
#   - with --xen only: Debian's Xen 4.17 hypervisor, the benchmark peer.
# Idempotent: a part already unpacked is not fetched again.
#
# --suite SUITE (e.g. trixie, Debian 13) takes the kernel and busybox from
# another Debian release, through a private apt configuration under
# $TALLY_CACHE/apt-SUITE (arm64 only, the archive address taken from the
# machine's own apt sources), so the host's apt is never pointed at it; the
# parts go to $TALLY_CACHE/linux-SUITE.
#
# Usage: fetch-linux.sh            print the kernel Image path
#        fetch-linux.sh --busybox  print the busybox binary path
#        fetch-linux.sh --xen      print the Xen hypervisor image path
#        fetch-linux.sh --all      fetch all three, print all three paths
# Progress goes to stderr, the answer to stdout.
set -euo pipefail

cache=${TALLY_CACHE:-$HOME/.cache/tally}
debs=$cache/debs
root=$cache/linux
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

say() { echo "fetch-linux: $*" >&2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian-archive.sh"

suite=""
if [ "${1:-}" = --suite ]; then
    suite=${2:?--suite needs a Debian suite name}
    shift 2
fi
apt_opts=()
if [ -n "$suite" ]; then
    apt_dir=$cache/apt-$suite
    debs=$cache/debs-$suite
    root=$cache/linux-$suite
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/parts"
    if [ ! -s "$apt_dir/sources.list" ]; then
        uri=$(debian_uri | head -n1)
        [ -n "$uri" ] || { say "cannot find a Debian archive in the apt sources"; exit 1; }
        echo "deb [arch=arm64] $uri $suite main" >"$apt_dir/sources.list"
    fi
    touch "$apt_dir/status"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
              -o "Dir::Cache::Archives=$apt_dir/archives" -o "Dir::Cache::pkgcache=$apt_dir/pkgcache.bin"
              -o "Dir::Cache::srcpkgcache=$apt_dir/srcpkgcache.bin" -o APT::Architecture=arm64
              -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
fi

ensure_arm64_lists() {
    if [ -n "$suite" ]; then
        if ! apt-cache "${apt_opts[@]}" show "$1:arm64" >/dev/null 2>&1; then
            say "updating the $suite apt lists (private, under $apt_dir)"
            apt-get "${apt_opts[@]}" update -qq >&2
        fi
        return
    fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "adding the arm64 architecture to dpkg"
        $SUDO dpkg --add-architecture arm64
        $SUDO apt-get update -qq >&2
    fi
    if ! apt-cache show "$1:arm64" >/dev/null 2>&1; then
        say "updating the apt lists"
        $SUDO apt-get update -qq >&2
    fi
}

download() {
    ensure_arm64_lists "$1"
    (cd "$debs" && apt-get "${apt_opts[@]}" download -q "$1:arm64" >&2)
}
unpack() { deb_unpack "$1" "$root/$1" download; }

# The kernel package linux-image-arm64 currently points at, e.g.
# linux-image-6.1.0-56-arm64. Resolved once and remembered, so later runs
# work offline and keep using the same kernel until the cache is cleared.
kernel_pkg() {
    local f=$root/.kernel-pkg name
    if [ -s "$f" ]; then
        cat "$f"
        return
    fi
    ensure_arm64_lists linux-image-arm64
    name=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64:arm64 |
        sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -n1)
    if [ -z "$name" ]; then
        say "cannot resolve the kernel package linux-image-arm64 depends on"
        exit 1
    fi
    mkdir -p "$root"
    echo "$name" >"$f"
    echo "$name"
}

kernel_image() {
    local pkg dir img
    pkg=$(kernel_pkg)
    dir=$(unpack "$pkg")
    img=$(ls "$dir"/boot/vmlinuz-* | head -n1)
    # Debian's arm64 vmlinuz is the Image itself: "ARM\x64" at offset 56.
    if [ "$(dd if="$img" bs=1 skip=56 count=4 status=none | od -An -tx1 | tr -d ' ')" != 41524d64 ]; then
        say "$img has no arm64 Image header"
        exit 1
    fi
    echo "$img"
}

busybox_bin() {
    local dir
    dir=$(unpack busybox-static)
    # bookworm installs it in /bin, trixie (merged /usr) in /usr/bin.
    if [ -x "$dir/bin/busybox" ]; then echo "$dir/bin/busybox"; else echo "$dir/usr/bin/busybox"; fi
}

xen_image() {
    local dir
    dir=$(unpack xen-hypervisor-4.17-arm64)
    ls "$dir"/boot/xen-4.17-arm64 2>/dev/null || ls "$dir"/boot/xen-* | head -n1
}

case "${1:-}" in
    "") kernel_image ;;
    --busybox) busybox_bin ;;
    --xen) xen_image ;;
    --all)
        kernel_image
        busybox_bin
        xen_image
        ;;
    *)
        echo "usage: $0 [--suite SUITE] [--busybox|--xen|--all]" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch the Raspberry Pi 4 boot chain's parts from Debian's archive with
# `apt-get download` and unpack them with `dpkg -x` into the cache outside the
# repo ($TALLY_CACHE, default ~/.cache/tally):
#   - u-boot-rpi (arm64): rpi_4/u-boot.bin;
#   - raspi-firmware (non-free-firmware component): start4.elf, fixup4.dat,
#     bootcode and friends the Pi 4's boot ROM and GPU load from the card;
#   - the device tree bcm2711-rpi-4-b.dtb, from the same arm64 linux-image
#     package the Linux guest comes from (scripts/fetch-linux.sh).
# raspi-firmware comes through a private apt list of the non-free-firmware
# component at the archive URI the machine's own sources name (the system's
# sources are left as they are).
#
# Usage: fetch-rpi4.sh --uboot | --firmware | --dtb   print one path
#        fetch-rpi4.sh --all                          print all three
# Progress goes to stderr, answers to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/debian-archive.sh"
cache=${TALLY_CACHE:-$HOME/.cache/tally}
debs=$cache/debs
root=$cache/rpi4
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

say() { echo "fetch-rpi4: $*" >&2; }

# apt, for the one component the machine's sources may lack: a private
# sources list and private lists under the cache, so the system's apt
# configuration is never touched (one suite listed twice with different
# Signed-By options would break it).
aptdir=$cache/apt-non-free-firmware
apt_nff() {
    apt-get -o Dir::Etc::SourceList="$aptdir/sources.list" -o Dir::Etc::SourceParts=- \
        -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache" "$@"
}

ensure_arm64() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "adding the arm64 architecture to dpkg"
        $SUDO dpkg --add-architecture arm64
        $SUDO apt-get update -qq >&2
    fi
}

# download PKG: apt-get download PKG:arm64 into $debs.
download() {
    local pkg=$1
    ensure_arm64
    if [ "$pkg" != raspi-firmware ]; then
        apt-cache show "$pkg:arm64" >/dev/null 2>&1 || $SUDO apt-get update -qq >&2
        (cd "$debs" && apt-get download -q "$pkg:arm64" >&2)
        return
    fi
    if [ ! -s "$aptdir/sources.list" ]; then
        local uri key
        uri=$(debian_uri | head -n1)
        key=$(debian_keyring)
        [ -n "$uri" ] || { say "cannot find a Debian archive in the apt sources"; exit 1; }
        mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
        echo "deb ${key:+[signed-by=$key] }$uri $(codename) non-free-firmware" >"$aptdir/sources.list"
        say "non-free-firmware from $uri $(codename) (private lists in $aptdir)"
        apt_nff update -qq >&2
    fi
    (cd "$debs" && apt_nff download -q "$pkg" >&2) # Architecture: all
}

unpack() { deb_unpack "$1" "$root/$1" download; }

uboot() {
    local f
    f=$(unpack u-boot-rpi)/usr/lib/u-boot/rpi_4/u-boot.bin
    [ -f "$f" ] || { say "u-boot-rpi has no rpi_4/u-boot.bin"; exit 1; }
    echo "$f"
}

firmware() {
    local d
    d=$(unpack raspi-firmware)/usr/lib/raspi-firmware
    [ -f "$d/start4.elf" ] && [ -f "$d/fixup4.dat" ] ||
        { say "raspi-firmware has no start4.elf/fixup4.dat in $d"; exit 1; }
    echo "$d"
}

dtb() {
    local kernel f
    kernel=$(bash "$here/fetch-linux.sh")
    f=$(ls "${kernel%/boot/*}"/usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb 2>/dev/null | head -n1)
    [ -n "$f" ] || { say "no broadcom/bcm2711-rpi-4-b.dtb beside $kernel"; exit 1; }
    echo "$f"
}

case "${1:-}" in
    --uboot) uboot ;;
    --firmware) firmware ;;
    --dtb) dtb ;;
    --all) uboot; firmware; dtb ;;
    *) echo "usage: $0 --uboot|--firmware|--dtb|--all" >&2; exit 2 ;;
esac

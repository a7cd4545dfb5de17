#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks scripts/mkinitramfs without fetching anything: a stand-in AArch64
# binary plays busybox. Asserts the exact entry list, modes and device
# numbers (as cpio(1) reads the archive), that /init and an extra file come
# back byte for byte, that a non-AArch64 "busybox" is refused, and that two
# builds are byte-identical (the boot benchmark relies on it).
#
# Usage: test-mkinitramfs.sh AARCH64_ELF
set -uo pipefail

elf=${1:?usage: $0 AARCH64_ELF}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "test-mkinitramfs: ok: $what"; else echo "test-mkinitramfs: FAIL: $what"; fails=$((fails + 1)); fi
}

mk() {
    python3 "$root/scripts/mkinitramfs" -o "$1" --busybox "$elf" --init "$here/init" \
        --file /bin/extra="$elf" 2>/dev/null
}
mk "$tmp/a.cpio.gz" && mk "$tmp/b.cpio.gz"
check "two builds are byte-identical" cmp -s "$tmp/a.cpio.gz" "$tmp/b.cpio.gz"

gunzip -c "$tmp/a.cpio.gz" >"$tmp/a.cpio"
listing=$(cpio -itv --quiet <"$tmp/a.cpio" | awk '{print $1, $5, $NF}')
want='drwxr-xr-x 0 bin
drwxr-xr-x 0 sbin
drwxr-xr-x 0 usr
drwxr-xr-x 0 usr/bin
drwxr-xr-x 0 usr/sbin
drwxr-xr-x 0 dev
drwxr-xr-x 0 proc
drwxr-xr-x 0 sys
drwxr-xr-x 0 tmp
drwxr-xr-x 0 root
drwxr-xr-x 0 etc
crw------- 5, dev/console
crw-rw-rw- 1, dev/null
-rwxr-xr-x '"$(stat -c %s "$elf")"' bin/busybox
lrwxrwxrwx 7 busybox
-rwxr-xr-x '"$(stat -c %s "$here/init")"' init
-rw-r--r-- 65 etc/profile
-rwxr-xr-x '"$(stat -c %s "$elf")"' bin/extra'
check "entries, modes, sizes and device majors" [ "$listing" = "$want" ]
check "/dev/console is 5,1 and /dev/null 1,3" \
    [ "$(cpio -itv --quiet <"$tmp/a.cpio" | awk '/dev\/(console|null)$/ {print $5 $6}' | tr '\n' ' ')" = "5,1 1,3 " ]
(cd "$tmp" && mkdir x && cd x && cpio -id --quiet <../a.cpio 2>/dev/null)
check "/init comes back byte for byte" cmp -s "$tmp/x/init" "$here/init"
check "an extra file comes back byte for byte" cmp -s "$tmp/x/bin/extra" "$elf"
check "bin/sh links to busybox" [ "$(readlink "$tmp/x/bin/sh")" = busybox ]
check "a host binary is refused as busybox" \
    bash -c "! python3 '$root/scripts/mkinitramfs' -o '$tmp/c' --busybox /bin/true --init '$here/init' 2>/dev/null"
check "--file without a /DEST is refused" \
    bash -c "! python3 '$root/scripts/mkinitramfs' -o '$tmp/c' --busybox '$elf' --init '$here/init' --file x=y 2>/dev/null"

if [ $fails -ne 0 ]; then
    echo "test-mkinitramfs: $fails checks failed"
    exit 1
fi
echo "test-mkinitramfs: all checks passed"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Check the SD-card image of make rpi4-image, byte by byte where it can be:
#   check-image.sh IMAGE TALLY.BIN GUEST-KERNEL GUEST-INITRD
# the MBR (one bootable FAT32-LBA partition at LBA 2048 to the end), the
# FAT32 file system and its exact file list, each file against its source,
# config.txt's keys, boot.scr's legacy header (mkimage -l) and script, and
# the Linux arm64 Image header of Tally. Prints one line per failure and
# `test-rpi4-image: N checks passed` or exits 1.
set -uo pipefail
img=$1 tally=$2 kernel=$3 initrd=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "test-rpi4-image: FAIL: $*"; fail=$((fail + 1)); }
is() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j "$2" -N 8 "$1" | tr -d ' '; }

[ -f "$img" ] || { echo "test-rpi4-image: no image $img"; exit 1; }
size=$(stat -c %s "$img")
is "image size is a power of two (QEMU's SD model)" $((size & (size - 1))) 0

# --- MBR ---------------------------------------------------------------------
is "MBR signature" "$(od -An -tx1 -j 510 -N 2 "$img" | tr -d ' ')" 55aa
is "partition 1 boot flag" "$(u8 "$img" 446)" 128
is "partition 1 type (FAT32 LBA)" "$(u8 "$img" 450)" 12
is "partition 1 first LBA" "$(u32 "$img" 454)" 2048
is "partition 1 sectors (to the end)" "$(u32 "$img" 458)" $((size / 512 - 2048))
for p in 2 3 4; do
    is "partition $p is empty" "$(od -An -tx1 -j $((446 + 16 * (p - 1))) -N 16 "$img" | tr -d ' \n')" \
        00000000000000000000000000000000
done

# --- FAT32 and its files ----------------------------------------------------
fat="$img@@1M"
is "file system" "$(minfo -i "$fat" :: 2>/dev/null | sed -n 's/^disk type="\(.*\)"$/\1/p' | tr -d ' ')" FAT32
files=$(mdir -b -i "$fat" :: | sed 's|^::/||' | sort | tr '\n' ' ')
is "FAT file list" "$files" "bcm2711-rpi-4-b.dtb boot.cmd boot.scr config.txt fixup4.dat guest-initrd.img guest.img start4.elf tally.bin u-boot.bin "
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
same() { # same NAME-IN-FAT SOURCE
    mcopy -n -i "$fat" "::$1" "$tmp/$1" 2>/dev/null || { bad "$1: cannot read it back"; return; }
    if cmp -s "$tmp/$1" "$2"; then ok; else bad "$1 differs from $2"; fi
}
same tally.bin "$tally"
same guest.img "$kernel"
same guest-initrd.img "$initrd"
same u-boot.bin "$(bash "$here/scripts/fetch-rpi4.sh" --uboot 2>/dev/null)"
same bcm2711-rpi-4-b.dtb "$(bash "$here/scripts/fetch-rpi4.sh" --dtb 2>/dev/null)"
fw=$(bash "$here/scripts/fetch-rpi4.sh" --firmware 2>/dev/null)
same start4.elf "$fw/start4.elf"
same fixup4.dat "$fw/fixup4.dat"

# --- config.txt --------------------------------------------------------------
mcopy -n -i "$fat" ::config.txt "$tmp/config.txt"
key() { grep -E "^$1=" "$tmp/config.txt" | tail -n1 | cut -d= -f2-; }
is "config.txt arm_64bit" "$(key arm_64bit)" 1
is "config.txt enable_uart" "$(key enable_uart)" 1
is "config.txt enable_gic" "$(key enable_gic)" 1
is "config.txt kernel" "$(key kernel)" u-boot.bin
is "config.txt device_tree" "$(key device_tree)" bcm2711-rpi-4-b.dtb

# --- boot.scr ----------------------------------------------------------------
mcopy -n -i "$fat" ::boot.scr "$tmp/boot.scr"
mcopy -n -i "$fat" ::boot.cmd "$tmp/boot.cmd"
l=$(mkimage -l "$tmp/boot.scr")
is "boot.scr image name" "$(sed -n 's/^Image Name: *//p' <<<"$l")" "Tally boot script"
is "boot.scr image type" "$(sed -n 's/^Image Type: *//p' <<<"$l")" "AArch64 Linux Script (uncompressed)"
# A legacy script image: 64-byte header, then a 0-terminated list of part
# sizes (one part), then the script itself.
is "boot.scr magic" "$(od -An -tx1 -N 4 "$tmp/boot.scr" | tr -d ' ')" 27051956
tail -c +73 "$tmp/boot.scr" | head -c "$(stat -c %s "$tmp/boot.cmd")" >"$tmp/script"
if cmp -s "$tmp/script" "$tmp/boot.cmd"; then ok; else bad "boot.scr's script is not boot.cmd"; fi
for want in 'load mmc 0:1 ${kernel_addr_r} tally.bin' 'load mmc 0:1 0x10000000 guest.img' \
    'compatible "multiboot,kernel" "multiboot,module"' 'compatible "multiboot,ramdisk" "multiboot,module"' \
    'reg <0x0 0x10000000 0x0 0x${filesize}>' 'booti ${kernel_addr_r} - ${fdt_addr}'; do
    if grep -qF -- "$want" "$tmp/boot.cmd"; then ok; else bad "boot.scr lacks: $want"; fi
done

# --- Tally's Image header (Documentation/arch/arm64/booting.rst) -----------
t=$tmp/tally.bin
is "Tally Image magic" "$(od -An -tx1 -j 56 -N 4 "$t" | tr -d ' ')" 41524d64
is "Tally text_offset" "$(u64 "$t" 8)" 0
is "Tally flags (LE, 4K, anywhere)" "$(u64 "$t" 24)" 10
isize=$(u64 "$t" 16)
if [ "$isize" -ge "$(stat -c %s "$t")" ] && [ $((isize % 4096)) = 0 ]; then ok; else
    bad "Tally image_size $isize: not page aligned or smaller than the file"; fi

if [ $fail -gt 0 ]; then
    echo "test-rpi4-image: $fail failed, $pass passed"
    exit 1
fi
echo "test-rpi4-image: $pass checks passed"

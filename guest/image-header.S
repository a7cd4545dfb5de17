/* SPDX-License-Identifier: MIT */
/*
 * The Linux arm64 Image header (Documentation/arch/arm64/booting.rst) that
 * lets Tally, QEMU -kernel or U-Boot booti load a project guest as a kernel:
 * text_offset 0, image_size from the linker script (file + bss), little
 * endian, 4 KiB pages, loadable anywhere. Include it at the start of a
 * guest's .text.head; it branches to the guest's primary_entry.
 */
    .section .text.head, "ax"
    .global _text
_text:
    b       primary_entry           /* code0 */
    .word   0                       /* code1 */
    .quad   0                       /* text_offset */
    .quad   __image_size            /* image_size: file + bss */
    .quad   0xa                     /* flags: LE, 4 KiB pages, anywhere */
    .quad   0, 0, 0                 /* res2..res4 */
    .ascii  "ARM\x64"               /* magic */
    .word   0                       /* res5: no PE header */

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# VM creation benchmark (docs/benchmarks.md): instructions from the start of
# vm_create to vCPU 0's first entry into the guest, for a 1 GiB VM, read by
# Tally from CNTPCT under QEMU -icount shift=0 (one tick per instruction),
# printed with the pages zeroed meanwhile. The baseline is the same run with
# tally.ram=eager: every page zeroed and mapped at creation, as Tally did
# before first-touch zeroing.
#
# Usage: bench-vm-create.sh IMAGE TESTGUEST
set -euo pipefail
image=$1 guest=$2

# create_line [TALLY-ARGS]: Tally's "creation to first guest instruction" line.
create_line() {
    local out
    out=$(QEMU_EXTRA="-icount shift=0,sleep=off" scripts/run-qemu --image "$image" --smp 1 \
        --mem 2G --vm-mem 1G --kernel "$guest" --append testguest.bench=1 \
        ${1:+--tally-args "$1"} --timeout 300 2>&1 | tr -d '\r') || true
    local l
    l=$(sed -n 's/^tally: VM 0: creation to first guest instruction: //p' <<<"$out")
    if [ -z "$l" ]; then
        printf '%s\n' "$out" | tail -20 >&2
        echo "bench-vm-create: no creation line" >&2
        exit 1
    fi
    echo "$l"
}
# "N counter ticks, Z pages zeroed, M MiB of RAM"
lazy=$(create_line)
eager=$(create_line tally.ram=eager)
read -r n _ _ z _ <<<"${lazy//,/}"
read -r bn _ _ bz _ <<<"${eager//,/}"
awk -v n="$n" -v b="$bn" -v z="$z" -v bz="$bz" 'BEGIN {
    printf "bench: vm_create_insns %d insns baseline=%d ratio=%.3f (1 GiB VM; %d pages zeroed, baseline %d)\n",
        n, b, n / b, z, bz }'

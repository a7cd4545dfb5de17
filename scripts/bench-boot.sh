#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Guest boot benchmark: instructions executed from power-on until the Linux
# guest's /init has printed its test markers and powered off, counted by the
# project's QEMU TCG plugin (tests/plugin/insn_count.c) in a deterministic
# setup, for the same kernel and initramfs:
#   baseline  booted directly by QEMU at EL1 (no hypervisor);
#   xen       Debian's Xen 4.17 booting it as dom0 (a peer, for reference);
#   tally     booted by Tally as VM 0 (one function: run_tally).
# Prints one line per figure, `bench: NAME VALUE insns baseline=VALUE ratio=X`.
# Each count is bit-exact from run to run (docs/benchmarks.md); --repeat 2
# runs every setup twice and fails if a count differs.
#
# Usage: bench-boot.sh --kernel IMAGE --initrd CPIO --plugin SO [--repeat N]
#                      [--out DIR]
set -euo pipefail

kernel="" initrd="" plugin="" repeat=1 out=build/bench-boot
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    --plugin) plugin=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "bench-boot: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$kernel" ] || [ -z "$initrd" ] || [ -z "$plugin" ]; then
    echo "usage: $0 --kernel IMAGE --initrd CPIO --plugin SO [--repeat N] [--out DIR]" >&2
    exit 2
fi
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)

# Deterministic machine: instruction-driven virtual time, a fixed RTC, no
# random DTB seeds, and -seed so -cpu max's RNDR (which Linux mixes into its
# entropy pool, changing code paths) returns the same numbers every run.
QEMU=(qemu-system-aarch64 -cpu max -smp 2 -nographic -nic none -monitor none
      -icount shift=0,sleep=off -rtc base=2024-01-01T00:00:00,clock=vm -seed 1)
MACHINE=virt,gic-version=3,dtb-randomness=off
GUEST_APPEND="nokaslr tally.test=1"
# Guest RAM is 512 MiB in every setup (dom0_mem for Xen).
GUEST_MEM=512M

# count NAME STOP -- QEMU-ARGS...: run QEMU with the counting plugin, stopping
# the count at the PSCI SYSTEM_OFF call made with STOP (hvc|smc); checks the
# guest reached `init: done`; prints the count.
count() {
    local name=$1 stop=$2
    shift 3
    local log=$out/$name.log plog=$out/$name.insns
    rm -f "$plog"
    if ! timeout 900 "${QEMU[@]}" -plugin "$plugin,stop=$stop" -d plugin -D "$plog" "$@" \
        </dev/null >"$log" 2>&1; then
        echo "bench-boot: $name: QEMU failed or timed out, see $log" >&2
        return 1
    fi
    if ! tr -d '\r' <"$log" | grep -qx 'init: done'; then
        echo "bench-boot: $name: the guest never printed 'init: done', see $log" >&2
        return 1
    fi
    local n
    n=$(sed -n 's/^insns: \([0-9][0-9]*\)$/\1/p' "$plog")
    if [ -z "$n" ]; then
        echo "bench-boot: $name: no instruction count ($(cat "$plog"))" >&2
        return 1
    fi
    echo "$n"
}

run_baseline() {
    count baseline hvc -- -M "$MACHINE" -m "$GUEST_MEM" -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyAMA0 $GUEST_APPEND"
}

run_xen() {
    local xen
    xen=$(bash "$here/fetch-linux.sh" --xen)
    # Dom0's console is Xen's (hvc0); Xen itself writes to the PL011.
    count xen smc -- -M "$MACHINE,virtualization=on" -m 1G -kernel "$xen" \
        -append "console=dtuart dtuart=/pl011@9000000 dom0_mem=$GUEST_MEM,max:$GUEST_MEM" \
        -device "guest-loader,addr=0x42000000,kernel=$kernel,bootargs=console=hvc0 $GUEST_APPEND" \
        -device "guest-loader,addr=0x46000000,initrd=$initrd"
}

# Tally as VM 0. Prints the count like run_baseline; exits 3 while Tally
# cannot run guests. When it can: boot build/qemu-virt/tally.bin with
# virtualization=on and the same two guest-loader devices as run_xen, and
# count with stop=smc (Tally's own SYSTEM_OFF from EL2 after the teardown).
run_tally() {
    return 3
}

# measure NAME FN: run FN $repeat times; all counts must agree. Returns FN's
# status when it fails (3: setup unavailable).
measure() {
    local name=$1 fn=$2 first="" n rc
    for ((i = 1; i <= repeat; i++)); do
        rc=0
        n=$($fn) || rc=$?
        [ $rc -eq 0 ] || return $rc
        if [ -z "$first" ]; then
            first=$n
        elif [ "$n" != "$first" ]; then
            echo "bench-boot: $name: count differs between runs: $first vs $n" >&2
            return 1
        fi
    done
    [ "$repeat" -lt 2 ] || echo "bench-boot: $name: $repeat runs, identical counts" >&2
    echo "$first"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

base=$(measure baseline run_baseline)
echo "bench-boot: baseline (QEMU direct, EL1): $base insns" >&2
rc=0
tally=$(measure tally run_tally) || rc=$?
if [ $rc -eq 0 ]; then
    echo "bench: guest_boot_insns $tally insns baseline=$base ratio=$(ratio "$tally" "$base")"
elif [ $rc -eq 3 ]; then
    echo "bench: guest_boot_insns unavailable (Tally does not run guests yet)"
else
    exit 1
fi
xen=$(measure xen run_xen)
echo "bench: guest_boot_insns_xen $xen insns baseline=$base ratio=$(ratio "$xen" "$base")"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Guest boot benchmark: instructions executed from power-on until the Linux
# guest's /init has printed its test markers and powered off, counted by the
# project's QEMU TCG plugin (tests/plugin/insn_count.c) in a deterministic
# setup, for the same kernel and initramfs:
#   baseline  booted directly by QEMU at EL1 (no hypervisor);
#   xen       Debian's Xen 4.17 booting it as dom0 (a peer, for reference);
#   tally     booted by Tally as VM 0 (scripts/run-qemu; TALLY_IMAGE).
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
DETERMINISM=(-icount shift=0,sleep=off -rtc base=2024-01-01T00:00:00,clock=vm -seed 1)
QEMU=(qemu-system-aarch64 -cpu max -smp 2 -nographic -nic none -monitor none "${DETERMINISM[@]}")
MACHINE=virt,gic-version=3,dtb-randomness=off
GUEST_APPEND="nokaslr tally.test=1"
# Guest RAM is 512 MiB in every setup (dom0_mem for Xen; for Tally, the
# machine RAM that leaves VM 0 exactly that much).
GUEST_MEM_MIB=512

# plugin_args NAME STOP: the QEMU options that load the counting plugin,
# stopping the count at the PSCI SYSTEM_OFF call made with STOP (hvc|smc),
# its output in $out/NAME.insns.
plugin_args() {
    echo "-plugin $plugin,stop=$2 -d plugin -D $out/$1.insns"
}

# count NAME -- COMMAND...: run a boot command that loads the plugin (see
# plugin_args NAME), check the guest reached `init: done`, print the count.
count() {
    local name=$1
    shift 2
    local log=$out/$name.log plog=$out/$name.insns
    rm -f "$plog"
    if ! timeout 900 "$@" </dev/null >"$log" 2>&1; then
        echo "bench-boot: $name: the boot failed or timed out, see $log" >&2
        return 1
    fi
    if ! tr -d '\r' <"$log" | grep -qxE '(vm0: )?init: done'; then
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
    # shellcheck disable=SC2046 # plugin_args is a word list
    count baseline -- "${QEMU[@]}" $(plugin_args baseline hvc) -M "$MACHINE" \
        -m "${GUEST_MEM_MIB}M" -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyAMA0 $GUEST_APPEND"
}

run_xen() {
    local xen
    xen=$(bash "$here/fetch-linux.sh" --xen)
    # Dom0's console is Xen's (hvc0); Xen itself writes to the PL011.
    # shellcheck disable=SC2046
    count xen -- "${QEMU[@]}" $(plugin_args xen smc) -M "$MACHINE,virtualization=on" -m 1G \
        -kernel "$xen" \
        -append "console=dtuart dtuart=/pl011@9000000 dom0_mem=${GUEST_MEM_MIB}M,max:${GUEST_MEM_MIB}M" \
        -device "guest-loader,addr=0x42000000,kernel=$kernel,bootargs=console=hvc0 $GUEST_APPEND" \
        -device "guest-loader,addr=0x46000000,initrd=$initrd"
}

# Tally as VM 0, through Tally's launcher (scripts/run-qemu: the same machine,
# the kernel and initrd as guest-loader boot modules; exit 0 only when Tally
# shut down cleanly with leaked=0). The count stops at Tally's own SMC
# SYSTEM_OFF, after the VM's teardown. Tally gives VM 0 the RAM it does not
# need itself, so the machine RAM is chosen to leave VM 0 512 MiB: a first
# guess, corrected from the size Tally reports and remembered in
# $out/tally.mem for the next run.
TALLY_IMAGE=${TALLY_IMAGE:-build/qemu-virt/tally.bin}
run_tally() {
    local n got tally_mem=$((GUEST_MEM_MIB + 48))
    [ ! -s "$out/tally.mem" ] || tally_mem=$(cat "$out/tally.mem")
    if [ ! -f "$TALLY_IMAGE" ]; then
        echo "bench-boot: tally: no image $TALLY_IMAGE (make)" >&2
        return 1
    fi
    for _ in 1 2 3; do
        n=$(QEMU_EXTRA="${DETERMINISM[*]} $(plugin_args tally smc)" \
            count tally -- bash "$here/run-qemu" --image "$TALLY_IMAGE" --cpu max --gic 3 \
            --smp 2 --mem "${tally_mem}M" --timeout 0 --kernel "$kernel" --initrd "$initrd" \
            --append "console=ttyAMA0 $GUEST_APPEND") || return 1
        got=$(tr -d '\r' <"$out/tally.log" |
            sed -n 's/^tally: VM 0: .*RAM \([0-9]*\) MiB at IPA.*/\1/p' | head -n1)
        if [ -z "$got" ]; then
            echo "bench-boot: tally: no 'VM 0: ... RAM N MiB' line in $out/tally.log" >&2
            return 1
        fi
        if [ "$got" = "$GUEST_MEM_MIB" ]; then
            echo "$tally_mem" >"$out/tally.mem"
            echo "$n"
            return 0
        fi
        tally_mem=$((tally_mem + GUEST_MEM_MIB - got))
    done
    echo "bench-boot: tally: could not give VM 0 $GUEST_MEM_MIB MiB (last: $got MiB)" >&2
    return 1
}

# measure NAME FN: run FN $repeat times; all counts must agree.
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
tally=$(measure tally run_tally)
echo "bench: guest_boot_insns $tally insns baseline=$base ratio=$(ratio "$tally" "$base")"
xen=$(measure xen run_xen)
echo "bench: guest_boot_insns_xen $xen insns baseline=$base ratio=$(ratio "$xen" "$base")"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the test guest on {-cpu max, -cpu cortex-a72} x {GICv3, GICv2} with 2
# CPUs and asserts on each transcript, then runs a SYSTEM_RESET loop
# (bootargs testguest.reset=1) until three complete runs.
#
#   run-qemu-matrix.sh testguest.bin
#       directly on QEMU virt at EL1 (no hypervisor): every named check
#       passes, the Tally-only checks are skipped, `0 failed`, and QEMU exits
#       through PSCI SYSTEM_OFF (status 0). This pins down what the guest
#       expects of a machine.
#   run-qemu-matrix.sh --tally tally.bin testguest.bin
#       as VM 0 under Tally (scripts/run-qemu --kernel): every check passes,
#       the Tally hypercalls too, and run-qemu exits 0 (Tally shut down
#       cleanly with leaked=0). In the reset loop every teardown returns the
#       free count the VM started from.
set -uo pipefail

tally=""
if [ "${1:-}" = --tally ]; then
    tally=$2
    shift 2
fi
bin=${1:?usage: $0 [--tally tally.bin] testguest.bin}
here=$(cd "$(dirname "$0")" && pwd)
# The console without carriage returns and without Tally's "vm0: " tag on
# the guest's lines, so the checks read a run on QEMU and under Tally alike.
untag() { tr -d '\r' | sed 's/^vm0: //'; }
root=$(cd "$here/../.." && pwd)
qemu=${QEMU:-qemu-system-aarch64}
if [ -n "$tally" ]; then
    tag=test-testguest-tally
    out_dir=$(dirname "$bin")/tally-matrix
else
    tag=test-testguest-qemu
    out_dir=$(dirname "$bin")/qemu-matrix
fi
mkdir -p "$out_dir"

checks=(psci-version psci-features psci-migrate-info-type psci-affinity-info-off
        psci-cpu-on psci-cpu-on-already-on psci-affinity-info-on sgi-cpu1-to-cpu0
        sgi-cpu0-to-cpu1 vtimer-irq ptimer-irq vtimer-disable-unpends vtimer-mask-unpends
        ptimer-disable-unpends ptimer-mask-unpends unmapped-ipa-load unmapped-ipa-store above-ram-load
        above-ram-store psci-cpu-off ram-pages mops sve clean-start)
tally_checks=(tally-hypercall tally-hypercall-undefined id-registers smccc-version
              smccc-arch-features psci-cpu-suspend-standby psci-cpu-suspend-powerdown ram-zero)
if [ -n "$tally" ]; then
    checks+=("${tally_checks[@]}")
    skips=()
else
    skips=("${tally_checks[@]}")
fi

# boot_cmd CPU GIC APPEND: sets cmd to the command that starts the test guest.
boot_cmd() {
    local cpu=$1 gic=$2 append=$3
    if [ -n "$tally" ]; then
        cmd=(bash "$root/scripts/run-qemu" --image "$tally" --cpu "$cpu" --gic "$gic" --smp 2
             --mem 512M --timeout 0 --kernel "$bin" ${append:+--append "$append"})
    else
        cmd=("$qemu" -M "virt,gic-version=$gic" -cpu "$cpu" -smp 2 -m 256M -nographic -nic none
             -monitor none -kernel "$bin" ${append:+-append "$append"})
    fi
}

failures=0
for cpu in max cortex-a72; do
    for gic in 3 2; do
        name="$cpu-gicv$gic"
        log=$out_dir/$name.log
        boot_cmd "$cpu" "$gic" ""
        timeout 120 "${cmd[@]}" </dev/null >"$log" 2>&1
        rc=$?
        untag <"$log" >"$log.txt"
        problems=()
        [ $rc -eq 0 ] || problems+=("exit status $rc (124: timed out)")
        for c in "${checks[@]}"; do
            grep -qx "testguest: PASS $c" "$log.txt" || problems+=("no PASS line for $c")
        done
        for c in "${skips[@]}"; do
            grep -q "^testguest: SKIP $c: not running under Tally\$" "$log.txt" ||
                problems+=("no SKIP line for $c")
        done
        want="testguest: ${#checks[@]} passed, 0 failed"
        grep -qx "$want" "$log.txt" || problems+=("no '$want' line")
        if [ ${#problems[@]} -eq 0 ]; then
            echo "$tag: $name: ok (${#checks[@]} passed, 0 failed, ${#skips[@]} skipped)"
        else
            failures=$((failures + 1))
            echo "$tag: $name: FAILED"
            printf '  %s\n' "${problems[@]}"
            sed 's/^/  | /' "$log.txt"
        fi
    done
done

# SYSTEM_RESET loop: the machine (or Tally's VM) restarts and the guest runs
# again from scratch; stop after the third complete run.
log=$out_dir/reset-loop.log
: >"$log"
boot_cmd max 3 testguest.reset=1
timeout 120 "${cmd[@]}" </dev/null >"$log" 2>&1 &
pid=$!
runs=0
while kill -0 $pid 2>/dev/null; do
    runs=$(untag <"$log" | grep -c "^testguest: ${#checks[@]} passed, 0 failed\$")
    [ "$runs" -lt 3 ] || break
    sleep 0.1
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
t=$(untag <"$log")
starts=$(grep -c '^testguest: start at EL1' <<<"$t")
resets=$(grep -c '^testguest: SYSTEM_RESET$' <<<"$t")
problems=()
[ "$runs" -ge 3 ] && [ "$resets" -ge 3 ] && [ "$starts" -ge 3 ] ||
    problems+=("$starts starts, $runs clean runs, $resets resets")
if [ -n "$tally" ]; then
    before=$(sed -n 's/^tally: VM 0: free pages before creation: \([0-9]*\)$/\1/p' <<<"$t" | head -n1)
    afters=$(sed -n 's/^tally: VM 0: free pages after teardown: \([0-9]*\)$/\1/p' <<<"$t")
    if [ -z "$before" ] || [ "$(grep -c . <<<"$afters")" -lt 2 ]; then
        problems+=("no free-page lines for the VM's creation and 2 teardowns")
    elif grep -qvx "$before" <<<"$afters"; then
        problems+=("free pages after a teardown differ from $before: $(echo $afters)")
    fi
    grep '^tally: accounting' <<<"$t" | grep -qv ' leaked=0$' && problems+=("leaked != 0")
fi
if [ ${#problems[@]} -eq 0 ]; then
    echo "$tag: reset-loop: ok (3 runs after SYSTEM_RESET, 0 failed each)"
else
    failures=$((failures + 1))
    echo "$tag: reset-loop: FAILED"
    printf '  %s\n' "${problems[@]}"
    sed 's/^/  | /' <<<"$t"
fi

if [ $failures -ne 0 ]; then
    echo "$tag: $failures of 5 runs failed"
    exit 1
fi
echo "$tag: all 5 runs passed"

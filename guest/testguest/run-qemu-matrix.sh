#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the test guest directly on QEMU virt at EL1 (no hypervisor) on
# {-cpu max, -cpu cortex-a72} x {GICv3, GICv2} with 2 CPUs and asserts on
# each transcript: every named check passed, the Tally-only checks were
# skipped, `0 failed`, and QEMU exited through PSCI SYSTEM_OFF (status 0).
# Then a SYSTEM_RESET loop (bootargs testguest.reset=1): three complete runs.
# This pins down what the guest expects of a machine before Tally runs it.
#
# Usage: run-qemu-matrix.sh build/guest/testguest.bin
set -uo pipefail

bin=${1:?usage: $0 testguest.bin}
qemu=${QEMU:-qemu-system-aarch64}
out_dir=$(dirname "$bin")/qemu-matrix
mkdir -p "$out_dir"

checks=(psci-version psci-features psci-migrate-info-type psci-affinity-info-off
        psci-cpu-on psci-cpu-on-already-on psci-affinity-info-on sgi-cpu1-to-cpu0
        sgi-cpu0-to-cpu1 vtimer-irq unmapped-ipa-load unmapped-ipa-store psci-cpu-off
        ram-pages)
skips=(tally-hypercall tally-hypercall-undefined)

failures=0
for cpu in max cortex-a72; do
    for gic in 3 2; do
        name="$cpu-gicv$gic"
        log=$out_dir/$name.log
        timeout 60 "$qemu" -M "virt,gic-version=$gic" -cpu "$cpu" -smp 2 -m 256M \
            -nographic -nic none -monitor none -kernel "$bin" </dev/null >"$log" 2>&1
        rc=$?
        tr -d '\r' <"$log" >"$log.txt"
        problems=()
        [ $rc -eq 0 ] || problems+=("QEMU exit status $rc (124: timed out)")
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
            echo "test-testguest-qemu: $name: ok (${#checks[@]} passed, 0 failed, ${#skips[@]} skipped)"
        else
            failures=$((failures + 1))
            echo "test-testguest-qemu: $name: FAILED"
            printf '  %s\n' "${problems[@]}"
            sed 's/^/  | /' "$log.txt"
        fi
    done
done
# SYSTEM_RESET loop (bootargs testguest.reset=1): QEMU resets the machine and
# the guest runs again from the start; stop after the third complete run.
log=$out_dir/reset-loop.log
: >"$log"
timeout 60 "$qemu" -M virt -cpu max -smp 2 -m 256M -nographic -nic none -monitor none \
    -kernel "$bin" -append testguest.reset=1 </dev/null >"$log" 2>&1 &
pid=$!
runs=0
while kill -0 $pid 2>/dev/null; do
    runs=$(tr -d '\r' <"$log" | grep -c "^testguest: ${#checks[@]} passed, 0 failed\$")
    [ "$runs" -lt 3 ] || break
    sleep 0.1
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
starts=$(tr -d '\r' <"$log" | grep -c '^testguest: start at EL1')
resets=$(tr -d '\r' <"$log" | grep -c '^testguest: SYSTEM_RESET$')
if [ "$runs" -ge 3 ] && [ "$resets" -ge 3 ] && [ "$starts" -ge 3 ]; then
    echo "test-testguest-qemu: reset-loop: ok (3 runs after SYSTEM_RESET, 0 failed each)"
else
    failures=$((failures + 1))
    echo "test-testguest-qemu: reset-loop: FAILED ($starts starts, $runs clean runs, $resets resets)"
    tr -d '\r' <"$log" | sed 's/^/  | /'
fi

if [ $failures -ne 0 ]; then
    echo "test-testguest-qemu: $failures of 5 runs failed"
    exit 1
fi
echo "test-testguest-qemu: all 5 runs passed"

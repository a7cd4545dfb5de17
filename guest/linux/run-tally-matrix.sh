#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Linux guest under Tally (scripts/run-qemu --kernel/--initrd/--append):
# test mode on {-cpu max, -cpu cortex-a72} x {GICv3, GICv2} x {1, 2 vCPUs},
# then a 3-boot reboot loop and an interactive shell session (a command,
# Ctrl-C, poweroff -f), each judged by check-boot.sh --tally (markers,
# leaked=0, free count after every teardown equal to the count before).
# LINUX_TALLY_CONFIGS="max:3:2 cortex-a72:2:1" narrows the matrix.
#
# Usage: run-tally-matrix.sh TALLY_BIN KERNEL INITRD
set -uo pipefail

tally=${1:?usage: $0 TALLY_BIN KERNEL INITRD} kernel=${2:?} initrd=${3:?}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(dirname "$initrd")/tally-matrix
mkdir -p "$out"
configs=${LINUX_TALLY_CONFIGS:-max:3:1 max:3:2 max:2:1 max:2:2 cortex-a72:3:1 cortex-a72:3:2 cortex-a72:2:1 cortex-a72:2:2}

run() {
    local cpu=$1 gic=$2 smp=$3 mode=$4 append=$5
    bash "$here/check-boot.sh" --tally "${@:6}" --log "$out/$cpu-gicv$gic-smp$smp-$mode.log" -- \
        bash "$root/scripts/run-qemu" --image "$tally" --cpu "$cpu" --gic "$gic" --smp "$smp" \
        --mem 1G --timeout 0 --kernel "$kernel" --initrd "$initrd" --append "console=ttyAMA0 $append"
}

failures=0 n=0
for c in $configs; do
    IFS=: read -r cpu gic smp <<<"$c"
    n=$((n + 1))
    echo -n "test-linux-tally: $cpu gicv$gic smp$smp: "
    run "$cpu" "$gic" "$smp" test tally.test=1 --cpus "$smp" || failures=$((failures + 1))
done
n=$((n + 1))
echo -n "test-linux-tally: reboot loop (max gicv3 smp2): "
run max 3 2 reboot tally.reboot=1 --reboots 3 || failures=$((failures + 1))
n=$((n + 1))
echo -n "test-linux-tally: interactive shell (max gicv3 smp2): "
run max 3 2 shell "" --shell || failures=$((failures + 1))
if [ $failures -ne 0 ]; then
    echo "test-linux-tally: $failures of $n runs failed"
    exit 1
fi
echo "test-linux-tally: all $n runs passed"

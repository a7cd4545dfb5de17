#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs a Linux-guest boot command (QEMU directly, or Tally's launcher) and
# asserts on the console transcript written by guest/linux/init.
#
#   check-boot.sh --cpus N [--timeout S] [--log FILE] -- COMMAND...
#       test mode (tally.test=1 on the command line): one `init: boot`,
#       `init: cpus=N`, `init: sleep2 ok`, `init: mem8m ok`, `init: dmesg
#       clean`, `init: done`, and COMMAND exits 0 (poweroff -f ended it).
#   check-boot.sh --reboots N [--timeout S] [--log FILE] -- COMMAND...
#       reboot loop (tally.reboot=1): the guest prints `init: boot` and does
#       `reboot -f` at every boot; nothing inside the guest survives a reboot,
#       so the loop is counted here: after the N-th `init: boot` COMMAND is
#       stopped. Passes when N boots reached /init with no kernel panic.
set -uo pipefail

cpus="" reboots="" timeout_s=300 log=""
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --reboots) reboots=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "check-boot: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ] || { [ -z "$cpus" ] && [ -z "$reboots" ]; }; then
    echo "usage: $0 (--cpus N | --reboots N) [--timeout S] [--log FILE] -- COMMAND..." >&2
    exit 2
fi
[ -n "$log" ] || log=$(mktemp /tmp/check-boot.XXXXXX)

start=$(date +%s%N)
timeout "$timeout_s" "$@" </dev/null >"$log" 2>&1 &
pid=$!
rc=""
if [ -n "$reboots" ]; then
    while kill -0 "$pid" 2>/dev/null; do
        n=$(tr -d '\r' <"$log" | grep -c '^init: boot$')
        if [ "$n" -ge "$reboots" ]; then
            kill "$pid"
            break
        fi
        sleep 0.2
    done
fi
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
wall=$((ms / 1000)).$(printf %03d $((ms % 1000)))
t=$(tr -d '\r' <"$log")

problems=()
if [ -n "$cpus" ]; then
    [ $rc -eq 0 ] || problems+=("command exit status $rc (124: timed out)")
    want=("init: boot" "init: cpus=$cpus" "init: mem8m ok" "init: dmesg clean" "init: done")
    for w in "${want[@]}"; do
        [ "$(grep -cx "$w" <<<"$t")" = 1 ] || problems+=("no single '$w' line")
    done
    grep -q '^init: sleep2 ok elapsed=' <<<"$t" || problems+=("no 'init: sleep2 ok' line")
else
    n=$(grep -c '^init: boot$' <<<"$t")
    [ "$n" -ge "$reboots" ] || problems+=("$n of $reboots boots reached /init")
fi
grep -q 'Kernel panic' <<<"$t" && problems+=("kernel panic")

if [ ${#problems[@]} -eq 0 ]; then
    if [ -n "$cpus" ]; then
        echo "check-boot: ok: $(grep '^init: sleep2' <<<"$t" | head -n1), wall ${wall}s"
    else
        echo "check-boot: ok: $reboots boots reached /init, wall ${wall}s"
    fi
    exit 0
fi
echo "check-boot: FAILED ($log)"
printf '  %s\n' "${problems[@]}"
tail -n 40 <<<"$t" | sed 's/^/  | /'
exit 1

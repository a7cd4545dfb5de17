#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs a Linux-guest boot command (QEMU directly, or Tally's launcher) and
# asserts on the console transcript written by guest/linux/init.
#
#   check-boot.sh --cpus N [--tally] [--timeout S] [--log FILE] -- COMMAND...
#       test mode (tally.test=1 on the command line): one `init: boot`,
#       `init: cpus=N`, `init: sleep2 ok`, `init: mem8m ok`, `init: dmesg
#       clean`, `init: done`, and COMMAND exits 0 (poweroff -f ended it).
#   check-boot.sh --reboots N [--tally] [--timeout S] [--log FILE] -- COMMAND...
#       reboot loop (tally.reboot=1): the guest prints `init: boot` and does
#       `reboot -f` at every boot; nothing inside the guest survives a reboot,
#       so the loop is counted here: after the N-th `init: boot` COMMAND is
#       stopped. Passes when N boots reached /init with no kernel panic.
#   check-boot.sh --shell [--tally] [--timeout S] [--log FILE] -- COMMAND...
#       interactive mode (no tally.* on the command line), driven through
#       COMMAND's stdin: waits for the shell prompt, runs a command and checks
#       its output, interrupts `sleep 100` with Ctrl-C (the prompt must come
#       back), then `poweroff -f`; COMMAND must exit 0.
#   --tally: COMMAND runs Tally (scripts/run-qemu --kernel ...); also assert
#       on Tally's lines: every `tally: accounting` line has leaked=0, and
#       every `tally: VM 0: free pages after teardown: N` equals the free
#       count before the first VM was created (at least N-1 teardowns in a
#       reboot loop, whose last boot is stopped).
set -uo pipefail

cpus="" reboots="" shell=0 timeout_s=300 log="" tally=0
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --reboots) reboots=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --tally) tally=1; shift ;;
    --shell) shell=1; shift ;;
    --) shift; break ;;
    *) echo "check-boot: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ] || { [ -z "$cpus" ] && [ -z "$reboots" ] && [ $shell = 0 ]; }; then
    echo "usage: $0 (--cpus N | --reboots N | --shell) [--tally] [--timeout S] [--log FILE] -- COMMAND..." >&2
    exit 2
fi
[ -n "$log" ] || log=$(mktemp /tmp/check-boot.XXXXXX)
: >"$log"

# The console without carriage returns, and without the tag Tally puts
# before each line of VM 0's output ("vm0: ", docs/run-qemu.md), so the
# same checks read a run directly on QEMU and one under Tally.
untag() { tr -d '\r' | sed 's/^vm0: //'; }

start=$(date +%s%N)
problems=()
if [ $shell = 1 ]; then
    fifo=$(mktemp -u /tmp/check-boot-in.XXXXXX)
    mkfifo "$fifo"
    timeout "$timeout_s" "$@" <"$fifo" >"$log" 2>&1 &
    pid=$!
    exec 3>"$fifo"
    rm -f "$fifo"
else
    timeout "$timeout_s" "$@" </dev/null >"$log" 2>&1 &
    pid=$!
fi

# wait_for N STRING: until the transcript holds STRING N times (or the
# command ends); false if it does not.
wait_for() {
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(untag <"$log" | grep -cF -- "$2")" -lt "$1" ] || return 0
        sleep 0.2
    done
    [ "$(untag <"$log" | grep -cF -- "$2")" -ge "$1" ]
}

if [ $shell = 1 ]; then
    prompt='tally-guest:/# '
    if ! wait_for 1 "$prompt"; then
        problems+=("no shell prompt")
    else
        printf 'echo hello-$((6*7))\n' >&3
        wait_for 1 hello-42 || problems+=("a command's output (hello-42) never came")
        printf 'sleep 100\n' >&3
        sleep 1
        printf '\003' >&3
        printf 'echo after-$((6*7))\n' >&3
        # Without a working Ctrl-C the echo waits for the 100 s sleep.
        deadline=$(($(date +%s) + 30))
        until untag <"$log" | grep -q '^after-42$' || [ "$(date +%s)" -ge $deadline ]; do
            sleep 0.2
        done
        untag <"$log" | grep -q '^after-42$' ||
            problems+=("Ctrl-C did not interrupt 'sleep 100' within 30 s")
        printf 'poweroff -f\n' >&3
    fi
    exec 3>&-
fi
rc=""
if [ -n "$reboots" ]; then
    while kill -0 "$pid" 2>/dev/null; do
        n=$(untag <"$log" | grep -c '^init: boot$')
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
t=$(untag <"$log")

if [ $shell = 1 ]; then
    [ $rc -eq 0 ] || problems+=("command exit status $rc (124: timed out)")
elif [ -n "$cpus" ]; then
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
if [ $tally = 1 ]; then
    grep '^tally: accounting' <<<"$t" | grep -qv ' leaked=0$' && problems+=("an accounting line with leaked != 0")
    before=$(sed -n 's/^tally: VM 0: free pages before creation: \([0-9]*\)$/\1/p' <<<"$t" | head -n1)
    afters=$(sed -n 's/^tally: VM 0: free pages after teardown: \([0-9]*\)$/\1/p' <<<"$t")
    want_teardowns=1
    [ -z "$reboots" ] || want_teardowns=$((reboots - 1))
    if [ -z "$before" ]; then
        problems+=("no 'tally: VM 0: free pages before creation' line")
    elif [ "$(grep -c . <<<"$afters")" -lt "$want_teardowns" ]; then
        problems+=("fewer than $want_teardowns VM teardowns")
    elif grep -qvx "$before" <<<"$afters"; then
        problems+=("free pages after a teardown differ from $before: $(echo $afters)")
    fi
fi

if [ ${#problems[@]} -eq 0 ]; then
    if [ $shell = 1 ]; then
        echo "check-boot: ok: shell prompt, a command, Ctrl-C, poweroff -f; wall ${wall}s"
    elif [ -n "$cpus" ]; then
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

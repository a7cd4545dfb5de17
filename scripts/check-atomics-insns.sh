#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Check that the forced atomics back ends are what the machine code says.
#
#   check-atomics-insns.sh LSE_BUILD_DIR LLSC_BUILD_DIR
#
# Disassembles the mm/ objects of the cross-lse and cross-llsc builds (see
# mk/cross.mk) and asserts:
#   LSE build:   mm/ contains LDADD* and CAS*; no STXR/STLXR at all (no LL/SC
#                retry loop anywhere); every LDXR/LDAXR is the LDAXRH of a
#                WFE wait (atomic_spin_until_u16), never a retry loop; the
#                reference-count code (meta.o, page.o) has no exclusive at all.
#   LL/SC build: mm/ contains LDAXR* and STLXR* (and LDXR*/STXR*); no LSE
#                instruction at all (LD<op>, ST<op>, SWP*, CAS*).
#   both:        no object of the build calls libgcc's __aarch64_* outline
#                atomics (everything was built with -mno-outline-atomics).
# Prints what it counted, per object and in total.
set -euo pipefail

OBJDUMP=${OBJDUMP:-aarch64-linux-gnu-objdump}
NM=${NM:-aarch64-linux-gnu-nm}

if [ $# -ne 2 ]; then
    echo "usage: $0 LSE_BUILD_DIR LLSC_BUILD_DIR" >&2
    exit 2
fi
lse_dir=$1
llsc_dir=$2

fail=0
err() {
    echo "check-atomics-insns: FAIL: $*" >&2
    fail=1
}

# The mnemonics of an object's code, one per line, in address order.
mnemonics() {
    "$OBJDUMP" -d --no-show-raw-insn "$1" |
        awk -F'\t' 'NF >= 2 && $1 ~ /^ *[0-9a-f]+:$/ { split($2, w, " "); print w[1] }'
}

LSE_RE='^(ld(add|clr|eor|set|smax|smin|umax|umin)|st(add|clr|eor|set|smax|smin|umax|umin)|swp|cas)[a-z]*$'
# Classes counted: name and regex.
CLASSES=(
    "ldadd:^ldadd[a-z]*$"
    "cas:^cas[a-z]*$"
    "swp:^swp[a-z]*$"
    "lse-all:$LSE_RE"
    "ldxr:^ldxr[bh]?$"
    "ldaxr:^ldaxr[bh]?$"
    "stxr:^stxr[bh]?$"
    "stlxr:^stlxr[bh]?$"
    "wfe:^wfe$"
)

declare -A total
# count_build DIR LABEL: per-object counts into total[LABEL.class].
count_build() {
    local dir=$1 label=$2 o c name re n line
    printf '%s build (%s):\n' "$label" "$dir"
    for c in "${CLASSES[@]}"; do total[$label.${c%%:*}]=0; done
    for o in "$dir"/mm/*.o; do
        local m
        m=$(mnemonics "$o")
        line=""
        for c in "${CLASSES[@]}"; do
            name=${c%%:*}
            re=${c#*:}
            n=$(grep -cE "$re" <<<"$m" || true)
            total[$label.$name]=$((total[$label.$name] + n))
            [ "$n" -gt 0 ] && line+=" $name=$n"
        done
        printf '  %-16s%s\n' "$(basename "$o")" "${line:- (no atomics)}"
    done
    line=""
    for c in "${CLASSES[@]}"; do
        name=${c%%:*}
        line+=" $name=${total[$label.$name]}"
    done
    printf '  %-16s%s\n' "total" "$line"
}

for d in "$lse_dir" "$llsc_dir"; do
    if ! compgen -G "$d/mm/*.o" >/dev/null; then
        echo "check-atomics-insns: no objects in $d/mm (build it first)" >&2
        exit 2
    fi
done

count_build "$lse_dir" lse
count_build "$llsc_dir" llsc

# --- LSE build ---------------------------------------------------------------
[ "${total[lse.ldadd]}" -gt 0 ] || err "LSE build: no LDADD* in mm/"
[ "${total[lse.cas]}" -gt 0 ] || err "LSE build: no CAS* in mm/"
[ "${total[lse.stxr]}" -eq 0 ] || err "LSE build: ${total[lse.stxr]} STXR* in mm/ (an LL/SC loop)"
[ "${total[lse.stlxr]}" -eq 0 ] || err "LSE build: ${total[lse.stlxr]} STLXR* in mm/ (an LL/SC loop)"
waits=0
for o in "$lse_dir"/mm/*.o; do
    # Every exclusive load must be an LDAXRH with a WFE within 3 instructions.
    bad=$(mnemonics "$o" | awk '
        { m[NR] = $1 }
        END {
            for (i = 1; i <= NR; i++) {
                if (m[i] !~ /^ld(a)?xr[bh]?$/) continue
                ok = 0
                if (m[i] == "ldaxrh")
                    for (j = i + 1; j <= i + 3 && j <= NR; j++) if (m[j] == "wfe") ok = 1
                if (!ok) printf "%s at instruction %d; ", m[i], i
                else waits++
            }
            printf "\n%d\n", waits
        }')
    what=$(head -n1 <<<"$bad")
    n=$(tail -n1 <<<"$bad")
    waits=$((waits + n))
    [ -z "$what" ] || err "LSE build: $(basename "$o"): exclusive load outside a WFE wait: $what"
done
for o in meta.o page.o; do
    [ -f "$lse_dir/mm/$o" ] || continue
    n=$(mnemonics "$lse_dir/mm/$o" | grep -cE '^(ld|st)(a|l)?xr[bh]?$' || true)
    [ "$n" -eq 0 ] || err "LSE build: $o (reference counts) has $n exclusive loads/stores"
done
echo "lse: LDAXRH+WFE waits: $waits (the only exclusives allowed)"

# --- LL/SC build -------------------------------------------------------------
[ "${total[llsc.ldaxr]}" -gt 0 ] || err "LL/SC build: no LDAXR* in mm/"
[ "${total[llsc.stlxr]}" -gt 0 ] || err "LL/SC build: no STLXR* in mm/"
[ "${total[llsc.ldxr]}" -gt 0 ] || err "LL/SC build: no LDXR* in mm/"
[ "${total[llsc.stxr]}" -gt 0 ] || err "LL/SC build: no STXR* in mm/"
[ "${total[llsc.lse-all]}" -eq 0 ] ||
    err "LL/SC build: ${total[llsc.lse-all]} LSE instructions in mm/"

# --- both: no outline-atomics helpers ----------------------------------------
for d in "$lse_dir" "$llsc_dir"; do
    calls=$(find "$d" -name '*.o' -print0 | xargs -0 "$NM" -u -A 2>/dev/null |
        grep -E ' __aarch64_(cas|swp|ldadd|ldclr|ldeor|ldset|have_lse)' || true)
    if [ -n "$calls" ]; then
        err "$d: objects call libgcc outline atomics (build with -mno-outline-atomics):"
        echo "$calls" >&2
    else
        echo "$(basename "$d"): no object references __aarch64_* outline atomics"
    fi
done

if [ $fail -ne 0 ]; then
    exit 1
fi
echo "check-atomics-insns: LSE build uses LDADD/CAS only, LL/SC build LDAXR/STLXR only: OK"

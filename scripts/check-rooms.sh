#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who may include whom (docs/architecture.md, "Who may call whom"): each rule
# names a set of files and the includes they must not have. Prints every
# violation and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# forbid DESCRIPTION REGEX FILE...: no FILE may have an #include matching REGEX.
forbid() {
    local what=$1 re=$2
    shift 2
    local hits
    hits=$(grep -HnE "^#include [\"<]($re)" "$@" 2>/dev/null || true)
    if [ -n "$hits" ]; then
        echo "check-rooms: $what:" >&2
        echo "$hits" >&2
        fail=1
    fi
}

shopt -s nullglob
forbid "mm/ includes nothing from hyp/" '(\.\./)*hyp/|core/|vm/|irq/|lib/|console/|platform/' mm/*.c mm/*.h
forbid "the physical GIC driver knows no consumer" 'vm/|irq/vgic|irq/vtimer|vgic|vtimer' \
    hyp/irq/gic.c hyp/irq/gic.h hyp/irq/gic_hw.h hyp/irq/gic_v2.c hyp/irq/gic_v3.c
forbid "the vGIC's portable model stays portable" 'vm/|core/|vgic\.h|gic\.h' hyp/irq/vgic_dist.c hyp/irq/vgic_dist.h
core=()
for f in hyp/core/*.[chS]; do [ "$f" = hyp/core/main.c ] || core+=("$f"); done
forbid "hyp/core/ (but main.c) sits below VMs and interrupts" 'vm/|irq/' "${core[@]}"
forbid "lib/, console/ and platform/ sit below VMs and interrupts" 'vm/|irq/' \
    hyp/lib/*.[ch] hyp/console/*.[ch] hyp/platform/*.[ch]
forbid "the page tracker names no consumer (mm/usage.c does)" 'tally/pgtable\.h' mm/page.c mm/meta.c mm/page_alloc.c

[ $fail = 0 ] && echo "check-rooms: $(find mm hyp -name '*.[chS]' | wc -l) files keep the include rules of docs/architecture.md"
exit $fail

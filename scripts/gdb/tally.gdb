# SPDX-License-Identifier: MIT
# gdb-multiarch set-up for debugging Tally under QEMU (make debug, or
# scripts/run-qemu --gdb, which pass this file and build/<platform>/tally.elf).
#
# The image is linked at 0 (position independent) and QEMU's virt loads it
# at RAM base + 2 MiB = 0x40200000, so the symbols are reloaded at that
# offset; TALLY_LOAD_ADDR overrides it (e.g. after U-Boot's booti). The gdb
# stub port is $TALLY_GDB_PORT (default 1234).
#
# Commands defined here:
#   tally-cpus         each CPU's per-CPU entry (stack, guard page, online)
# Breakpoints are set on panic, hyp_exception and hyp_halt, so a fatal error
# stops in gdb before the machine powers off.

set confirm off
set pagination off
set print pretty on

python
import os
elf = gdb.current_progspace().filename
load = os.environ.get("TALLY_LOAD_ADDR", "0x40200000")
if elf:
    gdb.execute("symbol-file")
    gdb.execute("symbol-file -o %s %s" % (load, elf))
gdb.execute("target remote :%s" % os.environ.get("TALLY_GDB_PORT", "1234"))
end

break panic
break hyp_exception
break hyp_halt

define tally-cpus
    set $i = 0
    while $i < hyp_nr_cpus
        printf "CPU %u: mpidr 0x%lx sp 0x%lx guard 0x%lx online %u\n", hyp_percpu[$i].id, hyp_percpu[$i].mpidr, hyp_percpu[$i].sp, hyp_percpu[$i].stack_guard_va, hyp_percpu[$i].online.v
        set $i = $i + 1
    end
end
document tally-cpus
Print each CPU's per-CPU entry: MPIDR, stack top, guard page, online flag.
end

// SPDX-License-Identifier: MIT
// Reports of exceptions taken at EL2 (vectors.S saves the registers and
// calls hyp_exception on the CPU's emergency stack). Until guests exist every
// exception is unexpected: it is decoded (exception class, fault status,
// access), printed with every register and the CPU, and the machine halts.
// A data abort in a CPU's stack guard page is reported as a stack overflow.
#include <stdio.h>
#include <tally/sysreg.h>

#include "hyp.h"
#include "percpu.h"

/* Saved by vectors.S, in this order. */
struct exc_frame {
    uint64_t x[31];
    uint64_t sp; /* SP_EL0 when the exception was taken: Tally's stack */
    uint64_t elr, spsr, esr, far;
    uint64_t frame_record[2]; /* {x29, ELR}: for debuggers' backtraces */
};
_Static_assert(sizeof(struct exc_frame) == 38 * 8, "vectors.S FRAME_SIZE");

char hyp_emergency_stacks[TALLY_MAX_CPUS][EMERGENCY_STACK_SIZE] __attribute__((aligned(16)));

static const char *const vector_names[16] = {
    "synchronous, EL2 SP_EL0", "IRQ, EL2 SP_EL0", "FIQ, EL2 SP_EL0", "SError, EL2 SP_EL0",
    "synchronous, EL2 SP_EL2", "IRQ, EL2 SP_EL2", "FIQ, EL2 SP_EL2", "SError, EL2 SP_EL2",
    "synchronous, lower EL",   "IRQ, lower EL",   "FIQ, lower EL",   "SError, lower EL",
    "synchronous, AArch32",    "IRQ, AArch32",    "FIQ, AArch32",    "SError, AArch32",
};

static const char *ec_name(unsigned ec)
{
    switch (ec) {
    case EC_UNKNOWN:
        return "unknown reason (undefined instruction)";
    case EC_WFX:
        return "WFI/WFE";
    case EC_FP_ASIMD:
        return "FP/SIMD access";
    case EC_ILLEGAL:
        return "illegal execution state";
    case EC_SVC64:
        return "SVC (AArch64)";
    case EC_HVC64:
        return "HVC (AArch64)";
    case EC_SMC64:
        return "SMC (AArch64)";
    case EC_SYS64:
        return "MSR/MRS/system instruction";
    case EC_SVE:
        return "SVE access";
    case EC_IABT_LOW:
        return "instruction abort from a lower EL";
    case EC_IABT_CUR:
        return "instruction abort at EL2";
    case EC_PC_ALIGN:
        return "PC alignment fault";
    case EC_DABT_LOW:
        return "data abort from a lower EL";
    case EC_DABT_CUR:
        return "data abort at EL2";
    case EC_SP_ALIGN:
        return "SP alignment fault";
    case EC_SERROR:
        return "SError";
    case EC_BRK64:
        return "BRK (AArch64)";
    default:
        return "unallocated or unexpected class";
    }
}

/* Fault status code of an instruction or data abort (ISS[5:0]). */
static void fault_status(unsigned fsc, char *buf, size_t len)
{
    static const char *const kind[] = {"address size", "translation", "access flag", "permission"};
    if (fsc < 0x10)
        snprintf(buf, len, "%s fault, level %u", kind[fsc >> 2], fsc & 3);
    else if (fsc == 0x10)
        snprintf(buf, len, "synchronous external abort");
    else if (fsc == 0x21)
        snprintf(buf, len, "alignment fault");
    else if (fsc == 0x30)
        snprintf(buf, len, "TLB conflict abort");
    else
        snprintf(buf, len, "fault status 0x%02x", fsc);
}

static bool in_guard_page(const struct percpu *pc, uint64_t a)
{
    return pc->stack_guard_va && a - pc->stack_guard_va < PAGE_SIZE;
}

/* at.S: the AT instructions of hyp_at_s1 and their fix-up. */
extern char hyp_at_insn_e1[], hyp_at_insn_e0[], hyp_at_fixup[];

atomic_u64 hyp_at_fixups;

uint64_t hyp_exception_fixup(const struct exc_frame *f);
uint64_t hyp_exception_fixup(const struct exc_frame *f)
{
    /* A synchronous abort (external, on the walk) of an AT reading a
     * guest's stage-1 tables: the translation failed, nothing else. */
    unsigned ec = ESR_EC(f->esr);
    if (ec == EC_DABT_CUR &&
        (f->elr == (uint64_t)hyp_at_insn_e1 || f->elr == (uint64_t)hyp_at_insn_e0)) {
        /* Counted for tally.test=at-walk-abort; no order needed with anything. */
        atomic_fetch_add_u64(&hyp_at_fixups, 1, MO_RELAXED);
        return (uint64_t)hyp_at_fixup;
    }
    return 0;
}

void hyp_exception(struct exc_frame *f, unsigned vector);
void hyp_exception(struct exc_frame *f, unsigned vector)
{
    hyp_fatal_begin();
    struct percpu *pc = this_cpu();
    unsigned ec = ESR_EC(f->esr);
    uint64_t image = (uint64_t)_start;

    if ((vector & 3) == 0 && ec == EC_DABT_CUR && in_guard_page(pc, f->far)) {
        printf("\ntally: stack overflow on CPU %u: guard page at 0x%lx (FAR 0x%lx, SP 0x%lx, "
               "ELR 0x%lx = image+0x%lx)\n",
               pc->id, pc->stack_guard_va, f->far, f->sp, f->elr, f->elr - image);
        hyp_halt();
    }

    printf("\ntally: unexpected exception on CPU %u: %s (EC 0x%02x), vector %s\n", pc->id,
           ec_name(ec), ec, vector_names[vector & 15]);
    if (ec == EC_DABT_CUR || ec == EC_DABT_LOW || ec == EC_IABT_CUR || ec == EC_IABT_LOW) {
        char fs[48];
        fault_status((unsigned)ESR_DFSC(f->esr), fs, sizeof(fs));
        bool data = ec == EC_DABT_CUR || ec == EC_DABT_LOW;
        printf("tally:   %s %s at address 0x%lx: %s\n", data ? "data" : "instruction",
               data ? ((f->esr & ESR_WNR) ? "write" : "read") : "fetch", f->far, fs);
    }
    printf("tally:   ESR 0x%016lx  FAR  0x%016lx\n"
           "tally:   ELR 0x%016lx  SPSR 0x%016lx  SP 0x%016lx\n"
           "tally:   ELR is image+0x%lx (addr2line -e build/%s/tally.elf)\n",
           f->esr, f->far, f->elr, f->spsr, f->sp, f->elr - image, hyp_platform.name);
    for (unsigned i = 0; i < 31; i += 3) {
        char line[96];
        int n = snprintf(line, sizeof(line), "tally:  ");
        for (unsigned j = i; j < i + 3 && j < 31; j++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " x%-2u 0x%016lx", j, f->x[j]);
        printf("%s\n", line);
    }
    hyp_halt();
}

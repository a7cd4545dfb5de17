/* SPDX-License-Identifier: MIT */
/*
 * Virtual CPUs (hyp/vm/vcpu.c, hyp/vm/guest_entry.S). One vCPU per physical CPU:
 * vCPU i of a VM always runs on pCPU first_pcpu + i (static partitioning:
 * vm.h, struct vm_config), so a vCPU is
 * "loaded" on its pCPU from its first entry until the VM stops: the EL1
 * system registers, the FP/SIMD registers and the timer live in the CPU
 * meanwhile and are saved and restored at load/put (vcpu_load/vcpu_put);
 * only the general registers, PC and PSTATE pass through memory at every
 * exit (guest_entry.S). Tally's own code touches no EL1 register and, built
 * with -mgeneral-regs-only, no FP/SIMD register.
 *
 * Power state (PSCI): OFF -> (CPU_ON from another vCPU) ON_PENDING -> (its
 * pCPU picks it up) ON -> (CPU_OFF) OFF. An OFF vCPU's pCPU sleeps in EL2
 * with WFE until CPU_ON or the end of the VM.
 */
#ifndef TALLY_HYP_VCPU_H
#define TALLY_HYP_VCPU_H

/* struct vcpu_ctx offsets, used by guest_entry.S. */
#define VCPU_CTX_X0       0
#define VCPU_CTX_SP_EL0   248
#define VCPU_CTX_PC       256
#define VCPU_CTX_PSTATE   264
#define VCPU_CTX_ESR      272
#define VCPU_CTX_FAR      280
#define VCPU_CTX_HPFAR    288
#define VCPU_CTX_HOST_SP  296
#define VCPU_CTX_MITIGATE 304

/* vcpu_ctx.mitigate: the MITIGATE_* bits (spectre_policy.h). */
#include "spectre_policy.h"

/* Exit codes guest_enter() returns: the EL2 vector that was taken. */
#define EXIT_SYNC   0
#define EXIT_IRQ    1
#define EXIT_FIQ    2
#define EXIT_SERROR 3

/* HCR_EL2 for a guest (vcpu.c says why these bits and not TWI, TWE, FB). */
#define HCR_VM     (1ull << 0)  /* stage-2 translation */
#define HCR_SWIO   (1ull << 1)  /* set/way invalidate -> clean+invalidate */
#define HCR_PTW    (1ull << 2)  /* a stage-1 walk into stage-2 Device memory faults */
#define HCR_FMO    (1ull << 3)  /* physical FIQ to EL2, virtual FIQ on */
#define HCR_IMO    (1ull << 4)  /* physical IRQ to EL2, virtual IRQ on */
#define HCR_AMO    (1ull << 5)  /* SError to EL2, virtual SError on */
#define HCR_VSE    (1ull << 8)  /* a virtual SError is pending */
#define HCR_TWI    (1ull << 13) /* WFI traps to EL2 */
#define HCR_TSC    (1ull << 19) /* SMC traps to EL2 */
#define HCR_RW_    (1ull << 31)
#define HCR_APK    (1ull << 40)
#define HCR_API    (1ull << 41)
#define HCR_FWB    (1ull << 46) /* stage-2 may force Write-Back (FEAT_S2FWB) */
#define HCR_ENSCXT (1ull << 53) /* SCXTNUM_EL0/EL1 untrapped (FEAT_CSV2_2) */
#define HCR_GUEST                                                                                  \
    (HCR_VM | HCR_SWIO | HCR_PTW | HCR_FMO | HCR_IMO | HCR_AMO | HCR_TWI | HCR_TSC | HCR_RW_ |     \
     HCR_APK | HCR_API)

#ifndef __ASSEMBLER__
#include <tally/atomic.h>
#include <tally/types.h>

#include "irq/vgic.h"

struct vm;

/* What guest_entry.S saves and loads at every entry and exit. */
struct vcpu_ctx {
    uint64_t x[31];
    uint64_t sp_el0;
    uint64_t pc;              /* ELR_EL2 */
    uint64_t pstate;          /* SPSR_EL2 */
    uint64_t esr, far, hpfar; /* of the last exit */
    uint64_t host_sp;         /* Tally's SP_EL0 while the guest runs */
    uint64_t mitigate;        /* MITIGATE_* for this pCPU (vcpu_load) */
};

/* EL1 system registers, saved at vcpu_put and loaded at vcpu_load. */
struct vcpu_sysregs {
    uint64_t sctlr, actlr, cpacr, ttbr0, ttbr1, tcr, esr, afsr0, afsr1, far, mair, amair, vbar,
        contextidr, tpidr_el1, tpidr_el0, tpidrro_el0, sp_el1, elr, spsr, par, csselr, cntkctl,
        mdscr, cntv_ctl, cntv_cval, cntp_ctl, cntp_cval;
};

/* FP/SIMD registers (guest_entry.S: fp_save/fp_load). */
struct vcpu_fp {
    __uint128_t q[32];
    uint64_t fpsr, fpcr;
};

enum vcpu_power { VCPU_OFF = 0, VCPU_ON_PENDING, VCPU_ON };

struct vcpu {
    struct vcpu_ctx ctx; /* first: guest_entry.S addresses it from the vcpu */
    struct vm *vm;
    unsigned id;
    unsigned pcpu;
    uint64_t mpidr; /* VMPIDR_EL2: Aff0 = id, as the guest's DT says */
    /* enum vcpu_power. CPU_ON moves OFF -> ON_PENDING with a CAS (acquire-
     * release; the entry/context writes below are published by it); the
     * vCPU's own pCPU moves ON_PENDING -> ON and ON -> OFF. */
    atomic_u32 power;
    uint64_t on_entry, on_context; /* from CPU_ON, valid in ON_PENDING */
    struct vcpu_sysregs sys;
    struct vcpu_fp fp __attribute__((aligned(16)));
    uint64_t exits, exits_irq, exits_hvc, exits_mmio, exits_abort;
    uint64_t exits_touch;       /* stage-2 faults that mapped untouched RAM (first touch) */
    uint64_t undefs;            /* UNDEFs injected for trapped MSR/MRS (sysreg.c) */
    struct vgic_cpu_state vgic; /* the VGIC's */
};

/* The vCPU this pCPU is running (between vcpu_load and vcpu_put), or NULL. */
struct vcpu *vcpu_current(void);

/* Reset v to the architectural start state for (entry, x0): EL1h, all
 * exceptions masked, MMU and caches off. */
void vcpu_reset(struct vcpu *v, uint64_t entry, uint64_t x0);

/* On v's own pCPU, while it is loaded: idle in EL2 until a physical
 * interrupt unless v already has a virtual one to take (WFI, CPU_SUSPEND). */
void vcpu_wait_for_interrupt(struct vcpu *v);
/* On v's own pCPU, while it is loaded: v restarts at entry with x0 = context
 * in the architectural start state (CPU_ON, CPU_SUSPEND power-down). */
void vcpu_warm_boot(struct vcpu *v, uint64_t entry, uint64_t context);

/* FEAT_S2FWB (ID_AA64MMFR2_EL1.FWB): when present, guests run with
 * HCR_EL2.FWB and stage-2 forces RAM Write-Back. */
bool cpu_has_s2fwb(void);

/* Run v on this pCPU until its VM stops. Returns the reason (enum vm_stop). */
unsigned vcpu_run(struct vcpu *v);

/* Advance the guest PC past the trapped instruction (ESR.IL: 4 bytes). */
/* Step over the trapped instruction: A64 instructions are 4 bytes; for an
 * AArch32 EL0 task (PSTATE.nRW) ESR.IL tells a 16-bit Thumb one apart. Not
 * trusted for A64: some syndromes (e.g. data aborts without ISS) leave IL
 * clear there. */
static inline void vcpu_skip_insn(struct vcpu *v, uint64_t esr)
{
    bool aarch32 = v->ctx.pstate & (1u << 4);
    v->ctx.pc += (aarch32 && !(esr & (1ull << 25))) ? 2 : 4;
}

/* hyp/vm/guest_entry.S */
unsigned guest_enter(struct vcpu_ctx *ctx);
void fp_save(struct vcpu_fp *fp);
void fp_load(const struct vcpu_fp *fp);
/* Zero every SVE register at the CPU's longest vector (Z0-Z31, P0-P15, FFR)
 * and ZCR_EL1: a vCPU starts with none of an earlier one's SVE state. The
 * state then lives in the registers while the vCPU runs on its pCPU (it
 * never moves, and Tally's code uses no FP/SIMD or SVE), so it needs no
 * save; fp_load() afterwards writes the low 128 bits of Z0-Z31. */
void sve_reset(void);

/* hyp/vm/traps.c: handle one exit (guest_enter's code). */
void traps_handle_exit(struct vcpu *v, unsigned exit);
/* Fault injection for tests (tally.inject-serror=N, docs/boot.md): VM N's
 * vCPU 0 has its first HVC exit taken as an SError exit. */
void traps_inject_serror(unsigned vm_id);

/* hyp/vm/inject.c: exceptions delivered to the guest's EL1. */
void inject_dabt(struct vcpu *v, uint64_t far, bool write);
/* A permission-fault data abort (DFSC 0b0011ll, level l): for a stage-2
 * permission fault, such as a write to a page shared read-only. */
void inject_dabt_perm(struct vcpu *v, uint64_t far, bool write, unsigned level);
void inject_iabt(struct vcpu *v, uint64_t far);
void inject_undef(struct vcpu *v);

/* hyp/vm/vpsci.c: PSCI over HVC/SMC for guests. True if fid was PSCI's. */
bool vpsci_handle(struct vcpu *v, uint32_t fid);
/* hyp/vm/spectre.c: SMCCC_VERSION, SMCCC_ARCH_FEATURES and
 * SMCCC_ARCH_WORKAROUND_1/2/3 for this pCPU. True if fid was one of them. */
bool spectre_smccc_handle(struct vcpu *v, uint32_t fid);
/* MITIGATE_* bits for this pCPU (classified on first use). */
uint64_t spectre_exit_mitigation(void);
/* hyp/vm/hypercall.c: Tally's vendor hypercalls; everything else is
 * SMCCC NOT_SUPPORTED. */
void hypercall_handle(struct vcpu *v, uint32_t fid);

#endif
#endif

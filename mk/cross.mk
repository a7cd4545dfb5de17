# SPDX-License-Identifier: MIT
# The host unit tests cross-built for AArch64 and run under qemu-aarch64 user
# mode, so the LSE and LL/SC back ends of <tally/atomic.h> run for real:
#
#   build/cross-auto/unit-tests  both back ends, chosen by atomics_init()
#   build/cross-lse/unit-tests   -DTALLY_ATOMICS_LSE -march=armv8.1-a
#   build/cross-llsc/unit-tests  -DTALLY_ATOMICS_LLSC (ARMv8.0 only)
#
# Built exactly like the host variants (host_variant in the top Makefile:
# every mm/*.c, tests/host/*.c, tests/unit/*.c), static, against Debian's
# arm64 libcheck.a, libsubunit.a and libfdt.a from scripts/fetch-arm64-libs.sh
# (its sysroot also has check.h and libfdt.h, identical to the host's).
#
# -mno-outline-atomics on every AArch64 compile: GCC 10+ otherwise turns
# __atomic builtins into calls to libgcc's __aarch64_* helpers, which pick
# LSE or LL/SC from a flag libc sets; EL2 has no libc, and the helpers would
# hide which back end runs. check-atomics-insns asserts no call remains.
#
# make check-cross          the four qemu-aarch64 runs (and one that must panic)
# make check-atomics-insns  the instructions in mm/ of the LSE and LL/SC builds

CROSS_CC ?= aarch64-linux-gnu-gcc
CROSS_OBJDUMP ?= aarch64-linux-gnu-objdump
CROSS_NM ?= aarch64-linux-gnu-nm
QEMU_AARCH64 ?= qemu-aarch64
AARCH64_ATOMICS_CFLAGS := -mno-outline-atomics

# Evaluated once, when a cross recipe first runs (so `make check` never
# fetches arm64 packages). Referenced as $$(CROSS_SYSROOT) below so that the
# variant rules keep the reference instead of expanding it at parse time.
CROSS_SYSROOT = $(eval CROSS_SYSROOT := $$(shell bash scripts/fetch-arm64-libs.sh))$(CROSS_SYSROOT)

CROSS_CFLAGS := -O2 -g -DTALLY_DEBUG $(AARCH64_ATOMICS_CFLAGS) -I$$(CROSS_SYSROOT)/usr/include
CROSS_LDLIBS := -static -L$$(CROSS_SYSROOT)/usr/lib/aarch64-linux-gnu $(CHECK_LIBS)

CROSS_UNIT_VARIANTS := cross-auto cross-lse cross-llsc
$(eval $(call host_variant,cross-auto,$(CROSS_CC),$(CROSS_CFLAGS),$(CROSS_LDLIBS)))
$(eval $(call host_variant,cross-lse,$(CROSS_CC),$(CROSS_CFLAGS) -DTALLY_ATOMICS_LSE -march=armv8.1-a,$(CROSS_LDLIBS)))
$(eval $(call host_variant,cross-llsc,$(CROSS_CC),$(CROSS_CFLAGS) -DTALLY_ATOMICS_LLSC,$(CROSS_LDLIBS)))

CROSS_BINS := $(foreach v,$(CROSS_UNIT_VARIANTS),$(BUILD)/$(v)/unit-tests)
.PHONY: cross-unit-tests
cross-unit-tests: $(CROSS_BINS)

# Iterations for the long randomised suites under emulation (every suite
# still runs; qemu-user is ~10-30x slower than the host). Override with
# CROSS_ENV='...' on the command line.
CROSS_ENV ?= TALLY_MODEL_OPS=100000 TALLY_PT_MODEL_OPS=20000 TALLY_PT_THREAD_OPS=20000 TALLY_STRESS_OPS=20000 \
             TALLY_ATOMIC_OPS=20000 TALLY_ATOMIC_ROUNDS=5000 TALLY_SPINLOCK_OPS=20000 \
             TALLY_SHARE_MODEL_OPS=500

# cross_run VARIANT CPU EXPECTED-BACKEND
define cross_run
	@echo "==== $(1) under qemu-aarch64 -cpu $(2): atomics must be $(3)"
	$(Q)env $(CROSS_ENV) TALLY_EXPECT_ATOMICS=$(3) $(QEMU_AARCH64) -cpu $(2) \
	    $(BUILD)/$(1)/unit-tests $(CHECK_ARGS)
endef

.PHONY: check-cross
check-cross: $(CROSS_BINS) | $(DEPS_STAMP)
	$(call cross_run,cross-auto,max,lse)
	$(call cross_run,cross-auto,cortex-a72,llsc)
	$(call cross_run,cross-lse,max,lse)
	$(call cross_run,cross-llsc,cortex-a72,llsc)
	@echo "==== cross-lse under -cpu cortex-a72: atomics_init() must refuse the CPU"
	$(Q)out=$$(TALLY_SUITES=atomic $(QEMU_AARCH64) -cpu cortex-a72 \
	    $(BUILD)/cross-lse/unit-tests 2>&1); rc=$$?; \
	if [ $$rc -eq 0 ] || ! grep -q "panic: atomics: built with TALLY_ATOMICS_LSE but this CPU has no LSE" <<<"$$out"; then \
	    echo "check-cross: expected the LSE-only build to panic on cortex-a72 (exit $$rc):" >&2; \
	    echo "$$out" >&2; exit 1; fi; \
	echo "panicked as expected (exit $$rc): $$(grep -m1 '^panic:' <<<"$$out")"

.PHONY: check-atomics-insns
check-atomics-insns: $(BUILD)/cross-lse/unit-tests $(BUILD)/cross-llsc/unit-tests | $(DEPS_STAMP)
	$(Q)OBJDUMP=$(CROSS_OBJDUMP) NM=$(CROSS_NM) scripts/check-atomics-insns.sh \
	    $(BUILD)/cross-lse $(BUILD)/cross-llsc

TEST_TARGETS += check-cross check-atomics-insns

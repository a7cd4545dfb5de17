# SPDX-License-Identifier: MIT
# The EL2 image: build/$(HYP_PLATFORM)/tally.elf (symbols) and tally.bin (the
# raw Linux arm64 Image that QEMU -kernel and U-Boot booti load), plus
# `make run` and `make debug`.
#
# Freestanding AArch64: -nostdinc with GCC's own headers and hyp/include (the
# few libc declarations the image implements), Debian's arm64 libfdt.a from
# scripts/fetch-arm64-libs.sh, position independent (-fpie, linked -pie at 0;
# head.S applies the R_AARCH64_RELATIVE relocations, and the link fails if
# any other dynamic relocation but R_AARCH64_NONE appears). mm/ is compiled in unchanged.

HYP_PLATFORM ?= qemu-virt
# HYP_DEBUG=1: -DTALLY_DEBUG (mm/'s debug checks), built apart in build/<platform>-debug.
HYP_DEBUG ?=
HYP_OUT := $(BUILD)/$(HYP_PLATFORM)$(if $(HYP_DEBUG),-debug)
HYP_ELF := $(HYP_OUT)/tally.elf
HYP_BIN := $(HYP_OUT)/tally.bin
HYP_CROSS ?= aarch64-linux-gnu-
HYP_CC := $(HYP_CROSS)gcc

# Platform constants the assembly needs before any C runs.
HYP_PLATFORM_DEFS_qemu-virt := -DTALLY_EARLY_UART=0x09000000
HYP_PLATFORM_DEFS_rpi4 := -DTALLY_EARLY_UART=0xfe201000

# Evaluated once, on first use (so `make check` never fetches arm64 packages).
HYP_SYSROOT = $(eval HYP_SYSROOT := $$(shell bash scripts/fetch-arm64-libs.sh))$(HYP_SYSROOT)
HYP_GCC_INC = $(eval HYP_GCC_INC := $$(shell $(HYP_CC) -print-file-name=include))$(HYP_GCC_INC)
HYP_LIBGCC = $(eval HYP_LIBGCC := $$(shell $(HYP_CC) -print-libgcc-file-name))$(HYP_LIBGCC)

HYP_CFLAGS = -std=gnu11 $(WARN) -O2 -g -nostdinc -Iinclude -Ihyp/include \
    -isystem $(HYP_GCC_INC) -isystem $(HYP_SYSROOT)/usr/include \
    -ffreestanding -fpie -mgeneral-regs-only -mno-outline-atomics -fno-stack-protector \
    -fno-omit-frame-pointer -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables \
    -MMD -MP $(HYP_PLATFORM_DEFS_$(HYP_PLATFORM)) $(if $(HYP_DEBUG),-DTALLY_DEBUG)
HYP_ASFLAGS = -Iinclude -Ihyp -MMD -MP -D__ASSEMBLER__ $(HYP_PLATFORM_DEFS_$(HYP_PLATFORM))

# Every room of hyp/ (docs/architecture.md) but platform/, whose one file for
# HYP_PLATFORM is added by name.
HYP_C_SRCS := $(sort $(filter-out hyp/platform/%,$(wildcard hyp/*/*.c))) \
              hyp/platform/$(HYP_PLATFORM).c $(MM_SRCS)
HYP_S_SRCS := $(sort $(wildcard hyp/*/*.S))
HYP_OBJS := $(patsubst %.c,$(HYP_OUT)/obj/%.o,$(HYP_C_SRCS)) \
            $(patsubst %.S,$(HYP_OUT)/obj/%.o,$(HYP_S_SRCS))

$(HYP_OUT)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[el2]  $<"
	$(Q)$(HYP_CC) $(HYP_CFLAGS) $(ROOM_INC) -c $< -o $@

$(HYP_OUT)/obj/%.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  AS[el2]  $<"
	$(Q)$(HYP_CC) $(HYP_ASFLAGS) -c $< -o $@

$(HYP_ELF): $(HYP_OBJS) hyp/tally.lds
	@echo "  LD[el2]  $@"
	$(Q)$(HYP_CROSS)ld -pie --no-dynamic-linker -z noexecstack --no-warn-rwx-segments \
	    -T hyp/tally.lds -Map=$(HYP_OUT)/tally.map -o $@.tmp $(HYP_OBJS) \
	    $(HYP_SYSROOT)/usr/lib/aarch64-linux-gnu/libfdt.a $(HYP_LIBGCC)
	$(Q)if $(HYP_CROSS)readelf -rW $@.tmp | grep -E 'R_AARCH64_' | grep -vqE 'R_AARCH64_(RELATIVE|NONE)'; then \
	    echo "hyp: the image has dynamic relocations other than R_AARCH64_RELATIVE:" >&2; \
	    $(HYP_CROSS)readelf -rW $@.tmp | grep -E 'R_AARCH64_' | grep -vE 'R_AARCH64_(RELATIVE|NONE)' >&2; \
	    exit 1; fi
	$(Q)mv $@.tmp $@

$(HYP_BIN): $(HYP_ELF)
	@echo "  OBJCOPY  $@"
	$(Q)$(HYP_CROSS)objcopy -O binary $< $@
	@echo "  IMAGE    $@: $$(stat -c %s $@) bytes in the file, $$(( $$($(HYP_CROSS)nm $< | awk '/ tally_image_size$$/ {print "0x" $$1}') )) bytes loaded with .bss"

-include $(patsubst %.o,%.d,$(HYP_OBJS))

ALL_TARGETS += $(HYP_BIN)

.PHONY: hyp run run-tally debug
hyp: $(HYP_BIN)

# `make run`: Tally with Debian's Linux as VM 0, a shell on the console
# (`poweroff -f` in the guest ends the run with Tally's accounting line;
# Ctrl-A X quits QEMU). The kernel and busybox are fetched on first use
# (mk/guest.mk, run-linux). RUN_ARGS go to scripts/run-qemu, e.g.
# make run RUN_ARGS="--cpu cortex-a72 --gic 2".
run: run-linux

# `make run-tally`: Tally alone (4 CPUs, GICv3, -cpu max, 1 GiB): it boots,
# reports and powers off.
run-tally: $(HYP_BIN)
	$(Q)scripts/run-qemu --image $(HYP_BIN) $(RUN_ARGS)

# `make debug`: QEMU halted at the first instruction, gdb-multiarch attached
# with the symbols at the load address (scripts/gdb/tally.gdb).
debug: $(HYP_BIN)
	$(Q)scripts/run-qemu --image $(HYP_BIN) --gdb $(RUN_ARGS)

# The portable parts of hyp/ (no console, no system registers, no libc names)
# also run in every host unit-test binary: tests/unit/test_hyp_runtime.c.
HYP_UNIT_SRCS := hyp/lib/format.c hyp/core/bootargs.c hyp/core/dt.c
HYP_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(HYP_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(patsubst %.c,$(BUILD)/$(v)/%.o,$(HYP_UNIT_SRCS)) | $(DT_BLOBS)))
-include $(foreach v,$(HYP_UNIT_VARIANTS),$(patsubst %.c,$(BUILD)/$(v)/%.d,$(HYP_UNIT_SRCS)))

# SPDX-License-Identifier: MIT
# Guests: the bare-metal test guest (build/guest/testguest.bin), the Linux
# test initramfs, the instruction-counting QEMU plugin, and their targets.
#   make testguest            build the test guest
#   make test-testguest-qemu  run it directly on QEMU (EL1, no hypervisor),
#                             {max, cortex-a72} x {GICv3, GICv2}: part of make test
#   make test-mkinitramfs     the initramfs writer, offline: part of make test
#   make linux-initramfs      fetch Debian's kernel + busybox, build the initramfs
#   make run-linux-qemu       boot that Linux directly on QEMU, interactive shell
#   make run-linux            boot that Linux as VM 0 under Tally, interactive shell
#   make test-linux-qemu      the same in test mode, asserting the /init markers
#   make test-testguest-tally the test guest matrix as VM 0 under Tally: make test
#   make test-linux-tally     Linux as VM 0 under Tally, test mode matrix + reboots
#   make bench-boot           guest boot instruction counts (part of make bench)

GUEST_BUILD := $(BUILD)/guest
GUEST_CC ?= aarch64-linux-gnu-gcc
GUEST_OBJCOPY ?= aarch64-linux-gnu-objcopy
GUEST_READELF ?= aarch64-linux-gnu-readelf

# Freestanding EL1 code, MMU off: no FP/SIMD, no unaligned accesses, and only
# PC-relative addressing (checked below) so the image runs where it is loaded.
GUEST_CFLAGS := -std=gnu11 $(WARN) -O2 -g -ffreestanding -nostdlib -fno-pic -fno-pie \
    -fno-stack-protector -mgeneral-regs-only -mstrict-align -mcmodel=small \
    -fno-tree-loop-distribute-patterns -MMD -MP

TESTGUEST_SRCS := $(wildcard guest/testguest/*.c) guest/testguest/head.S
TESTGUEST_OBJS := $(patsubst guest/testguest/%,$(GUEST_BUILD)/testguest/%.o,$(TESTGUEST_SRCS))

# The ID-register expectations come from the table in docs/cpu-features.md.
$(GUEST_BUILD)/testguest/idregs.h: docs/cpu-features.md scripts/idregs-from-doc
	@mkdir -p $(dir $@)
	$(Q)python3 scripts/idregs-from-doc $< >$@.tmp && mv $@.tmp $@
$(GUEST_BUILD)/testguest/cpu.c.o: $(GUEST_BUILD)/testguest/idregs.h
$(GUEST_BUILD)/testguest/cpu.c.o: GUEST_CFLAGS += -I$(GUEST_BUILD)/testguest

$(GUEST_BUILD)/testguest/%.o: guest/testguest/% | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[guest] $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

# The only absolute relocation allowed is the Image header's image_size, an
# absolute linker-script constant.
$(GUEST_BUILD)/testguest.elf: $(TESTGUEST_OBJS) guest/testguest/testguest.lds
	@echo "  LD[guest] $@"
	$(Q)bad=$$($(GUEST_READELF) -rW $(TESTGUEST_OBJS) | \
	    awk '/^Relocation section/ {dbg = ($$3 ~ /debug/)} !dbg && /R_AARCH64_(ABS|MOVW_UABS)/ && !/__image_size/'); \
	    if [ -n "$$bad" ]; then echo "testguest: absolute relocations break position independence:"; \
	    echo "$$bad"; exit 1; fi
	$(Q)$(GUEST_CC) -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,guest/testguest/testguest.lds \
	    -o $@ $(TESTGUEST_OBJS)

$(GUEST_BUILD)/testguest.bin: $(GUEST_BUILD)/testguest.elf
	$(Q)$(GUEST_OBJCOPY) -O binary $< $@

-include $(patsubst %.o,%.d,$(TESTGUEST_OBJS))

.PHONY: testguest test-testguest-qemu
testguest: $(GUEST_BUILD)/testguest.bin
test-testguest-qemu: $(GUEST_BUILD)/testguest.bin
	$(Q)bash guest/testguest/run-qemu-matrix.sh $<

# The same matrix with the test guest as VM 0 under Tally.
.PHONY: test-testguest-tally
test-testguest-tally: $(GUEST_BUILD)/testguest.bin $(BUILD)/qemu-virt/tally.bin
	$(Q)bash guest/testguest/run-qemu-matrix.sh --tally $(BUILD)/qemu-virt/tally.bin $<

ALL_TARGETS += $(GUEST_BUILD)/testguest.bin
# The test guest under Tally runs in test-qemu's scenarios (tests/qemu/scenarios.sh);
# test-testguest-tally stays as a quick manual check.
TEST_TARGETS += test-testguest-qemu

# --- Linux guest: Debian's kernel + a busybox initramfs built here ----------
# tally-memcheck: the initramfs's 8 MiB memory check, freestanding (raw
# system calls), so it needs no AArch64 libc.
$(GUEST_BUILD)/linux/tally-memcheck: guest/linux/memcheck.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[guest] $<"
	$(Q)$(GUEST_CC) -std=gnu11 $(WARN) -O2 -static -nostdlib -ffreestanding -fno-stack-protector \
	    -Wl,--build-id=none -o $@ $<

# The kernel and busybox come from the cache (scripts/fetch-linux.sh is quick
# when they are there); the stamp records their paths for the rules below.
$(GUEST_BUILD)/linux/paths: scripts/fetch-linux.sh | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)k=$$(bash scripts/fetch-linux.sh) && b=$$(bash scripts/fetch-linux.sh --busybox) && \
	    printf 'kernel=%s\nbusybox=%s\n' "$$k" "$$b" >$@

$(GUEST_BUILD)/linux/initramfs.cpio.gz: $(GUEST_BUILD)/linux/paths guest/linux/init scripts/mkinitramfs \
        $(GUEST_BUILD)/linux/tally-memcheck
	$(Q)python3 scripts/mkinitramfs -o $@ --init guest/linux/init \
	    --busybox "$$(sed -n 's/^busybox=//p' $(GUEST_BUILD)/linux/paths)" \
	    --file /bin/tally-memcheck=$(GUEST_BUILD)/linux/tally-memcheck

LINUX_INITRAMFS := $(GUEST_BUILD)/linux/initramfs.cpio.gz

# The same guest from Debian 13 (trixie): its kernel (6.12) and its
# busybox-static, whose glibc picks CPYP/SETP string functions where the CPU
# advertises FEAT_MOPS (the -cpu max case Tally once broke).
$(GUEST_BUILD)/linux-trixie/paths: scripts/fetch-linux.sh scripts/lib/debian-archive.sh | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)k=$$(bash scripts/fetch-linux.sh --suite trixie) && \
	    b=$$(bash scripts/fetch-linux.sh --suite trixie --busybox) && \
	    printf 'kernel=%s\nbusybox=%s\n' "$$k" "$$b" >$@

$(GUEST_BUILD)/linux-trixie/initramfs.cpio.gz: $(GUEST_BUILD)/linux-trixie/paths guest/linux/init \
        scripts/mkinitramfs $(GUEST_BUILD)/linux/tally-memcheck
	$(Q)python3 scripts/mkinitramfs -o $@ --init guest/linux/init \
	    --busybox "$$(sed -n 's/^busybox=//p' $(GUEST_BUILD)/linux-trixie/paths)" \
	    --file /bin/tally-memcheck=$(GUEST_BUILD)/linux/tally-memcheck

# The initramfs writer, offline (a stand-in AArch64 binary plays busybox).
.PHONY: test-mkinitramfs
test-mkinitramfs: $(GUEST_BUILD)/linux/tally-memcheck
	$(Q)bash guest/linux/test-mkinitramfs.sh $<
TEST_TARGETS += test-mkinitramfs
LINUX_KERNEL = $$(sed -n 's/^kernel=//p' $(GUEST_BUILD)/linux/paths)

.PHONY: linux-initramfs run-linux-qemu test-linux-qemu test-linux-tally run-linux

# Linux as VM 0 under Tally, interactive: a shell on the console; `poweroff -f`
# in the guest ends the run with Tally's accounting line. RUN_ARGS go to
# scripts/run-qemu (e.g. RUN_ARGS="--cpu cortex-a72 --gic 2").
run-linux: $(LINUX_INITRAMFS) $(BUILD)/qemu-virt/tally.bin
	$(Q)scripts/run-qemu --image $(BUILD)/qemu-virt/tally.bin --smp 2 --mem 1G \
	    --kernel "$(LINUX_KERNEL)" --initrd $(LINUX_INITRAMFS) --append "console=ttyAMA0" $(RUN_ARGS)
linux-initramfs: $(LINUX_INITRAMFS)

# Linux directly on QEMU at EL1, no hypervisor: the reference the Tally runs
# are compared with. LINUX_QEMU_ARGS adds or overrides QEMU options.
LINUX_QEMU = qemu-system-aarch64 -M virt,gic-version=3 -cpu max -smp 2 -m 512M -nographic \
    -nic none $(LINUX_QEMU_ARGS)
run-linux-qemu: $(LINUX_INITRAMFS)
	$(Q)$(LINUX_QEMU) -kernel "$(LINUX_KERNEL)" -initrd $(LINUX_INITRAMFS) -append "console=ttyAMA0"
test-linux-qemu: $(LINUX_INITRAMFS)
	$(Q)bash guest/linux/check-boot.sh --cpus 2 -- $(LINUX_QEMU) -kernel "$(LINUX_KERNEL)" \
	    -initrd $(LINUX_INITRAMFS) -append "console=ttyAMA0 tally.test=1"
	$(Q)bash guest/linux/check-boot.sh --reboots 3 -- $(LINUX_QEMU) -kernel "$(LINUX_KERNEL)" \
	    -initrd $(LINUX_INITRAMFS) -append "console=ttyAMA0 tally.reboot=1"
	$(Q)bash guest/linux/check-boot.sh --shell -- $(LINUX_QEMU) -kernel "$(LINUX_KERNEL)" \
	    -initrd $(LINUX_INITRAMFS) -append "console=ttyAMA0"

# Linux as VM 0 under Tally: {max, cortex-a72} x {GICv3, GICv2} x {1, 2
# vCPUs} in test mode, and a reboot loop (several minutes; not in make test).
test-linux-tally: $(LINUX_INITRAMFS) $(BUILD)/qemu-virt/tally.bin
	$(Q)bash guest/linux/run-tally-matrix.sh $(BUILD)/qemu-virt/tally.bin "$(LINUX_KERNEL)" \
	    $(LINUX_INITRAMFS)

# --- QEMU TCG plugin counting executed instructions (benchmarks) -------------
$(BUILD)/plugin/libinsn_count.so: tests/plugin/insn_count.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[plugin] $<"
	$(Q)$(HOST_CC) -std=gnu11 $(WARN) -O2 -shared -fPIC -fvisibility=hidden -o $@ $<

.PHONY: bench-boot
bench-boot: $(LINUX_INITRAMFS) $(BUILD)/plugin/libinsn_count.so $(BUILD)/qemu-virt/tally.bin
	$(Q)TALLY_IMAGE=$(BUILD)/qemu-virt/tally.bin bash scripts/bench-boot.sh --kernel "$(LINUX_KERNEL)" \
	    --initrd $(LINUX_INITRAMFS) --plugin $(BUILD)/plugin/libinsn_count.so
BENCH_TARGETS += bench-boot
ALL_TARGETS += $(BUILD)/plugin/libinsn_count.so

# Exit costs inside the test guest under Tally (testguest.bench=1), in
# instructions: -icount shift=0 makes the guest's CNTVCT count them. The
# emulated UART write is printed against the null hypercall, the cheapest
# exit, measured in the same run.
.PHONY: bench-exits
bench-exits: $(GUEST_BUILD)/testguest.bin $(BUILD)/qemu-virt/tally.bin
	$(Q)out=$$(QEMU_EXTRA="-icount shift=0,sleep=off" scripts/run-qemu --image $(BUILD)/qemu-virt/tally.bin \
	    --smp 2 --mem 1G --shmem 2M --timeout 300 \
	    --kernel $< --vm-mem 256M --append testguest.bench=1 \
	    --vm --kernel $< --vm-mem 128M --append testguest.bench=peer 2>&1); \
	    line=$$(printf '%s\n' "$$out" | tr -d '\r' | sed -n 's/^vm0: testguest: bench //p'); \
	    [ -n "$$line" ] || { printf '%s\n' "$$out" | tail -20; exit 1; }; \
	    echo "$$line" | tr ' ' '\n' | awk -F= '{v[$$1] = $$2} END { \
	        printf "bench-exits: loop_insns %d (a store in the loop, no exit)\n", v["loop_insns"]; \
	        printf "bench-exits: hvc_null_insns %d (baseline: the null hypercall round trip)\n", v["hvc_null_insns"]; \
	        printf "bench-exits: mmio_uart_write_insns %d (%.2fx the null hypercall)\n", \
	            v["mmio_uart_write_insns"], v["mmio_uart_write_insns"] / v["hvc_null_insns"]; \
	        printf "bench-exits: share_hyp_unshare_page_insns %d (SHARE_HYP + UNSHARE_HYP of one page: %.2fx two null hypercalls)\n", \
	            v["share_hyp_unshare_page_insns"], v["share_hyp_unshare_page_insns"] / (2 * v["hvc_null_insns"]); \
	        printf "bench-exits: share_unshare_page_insns %d (SHARE + UNSHARE with VM 1, 64 pages per call, per page: %.2fx the null hypercall)\n", \
	            v["share_unshare_page_insns"], v["share_unshare_page_insns"] / v["hvc_null_insns"] }'; \
	    printf '%s\n' "$$out" | tr -d '\r' | grep -q '^vm1: testguest: PASS bench-peer' || \
	        { printf '%s\n' "$$out" | tail -20; echo "bench-exits: the peer VM did not see the bench end"; exit 1; }
BENCH_TARGETS += bench-exits

# VM creation to the guest's first instruction, 1 GiB VM, first-touch zeroing
# against tally.ram=eager (scripts/bench-vm-create.sh).
.PHONY: bench-vm-create
bench-vm-create: $(GUEST_BUILD)/testguest.bin $(BUILD)/qemu-virt/tally.bin
	$(Q)bash scripts/bench-vm-create.sh $(BUILD)/qemu-virt/tally.bin $<
BENCH_TARGETS += bench-vm-create

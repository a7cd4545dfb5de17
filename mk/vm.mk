# SPDX-License-Identifier: MIT
# VMs (issue 5): the QEMU scenarios of tests/qemu/scenarios.sh that boot the
# test guest and Debian's Linux as VM 0 need both built first.
test-qemu: $(GUEST_BUILD)/testguest.bin $(LINUX_INITRAMFS) $(GUEST_BUILD)/linux/paths \
    $(GUEST_BUILD)/linux-trixie/initramfs.cpio.gz

# The hostile test guest (guest/hostile): built like the test guest, with its
# link script and its position-independence check; booted as VM 0 by the vm-hostile-guest scenario.
HOSTILE_SRCS := guest/hostile/main.c guest/hostile/head.S
HOSTILE_OBJS := $(patsubst guest/hostile/%,$(GUEST_BUILD)/hostile/%.o,$(HOSTILE_SRCS))

$(GUEST_BUILD)/hostile/%.o: guest/hostile/% | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[guest] $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_BUILD)/hostile.elf: $(HOSTILE_OBJS) guest/testguest/testguest.lds
	@echo "  LD[guest] $@"
	$(Q)bad=$$($(GUEST_READELF) -rW $(HOSTILE_OBJS) | \
	    awk '/^Relocation section/ {dbg = ($$3 ~ /debug/)} !dbg && /R_AARCH64_(ABS|MOVW_UABS)/ && !/__image_size/'); \
	    if [ -n "$$bad" ]; then echo "hostile: absolute relocations break position independence:"; \
	    echo "$$bad"; exit 1; fi
	$(Q)$(GUEST_CC) -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
	    -Wl,-T,guest/testguest/testguest.lds -o $@ $(HOSTILE_OBJS)

$(GUEST_BUILD)/hostile.bin: $(GUEST_BUILD)/hostile.elf
	$(Q)$(GUEST_OBJCOPY) -O binary $< $@

-include $(patsubst %.o,%.d,$(HOSTILE_OBJS))

ALL_TARGETS += $(GUEST_BUILD)/hostile.bin
test-qemu: $(GUEST_BUILD)/hostile.bin

# The guest device tree writer and the VM binding reader are portable: they
# also run in every host unit-test binary (tests/unit/test_guest_fdt.c,
# test_vmconfig.c).
VM_UNIT_SRCS := hyp/vm/guest_fdt.c hyp/vm/vmconfig.c
VM_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(VM_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(patsubst %.c,$(BUILD)/$(v)/%.o,$(VM_UNIT_SRCS))))
-include $(foreach v,$(VM_UNIT_VARIANTS),$(patsubst %.c,$(BUILD)/$(v)/%.d,$(VM_UNIT_SRCS)))

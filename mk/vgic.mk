# SPDX-License-Identifier: MIT
# The portable half of the vGIC (hyp/irq/vgic_dist.c: interrupt model, GICv2/v3
# distributor and redistributor registers, list-register selection) linked
# into every host unit-test binary for tests/unit/test_vgic.c, as mk/dt.mk
# does for hyp/core/memmap.c.
VGIC_UNIT_SRCS := hyp/irq/vgic_dist.c
VGIC_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(VGIC_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(patsubst %.c,$(BUILD)/$(v)/%.o,$(VGIC_UNIT_SRCS))))
-include $(foreach v,$(VGIC_UNIT_VARIANTS),$(patsubst %.c,$(BUILD)/$(v)/%.d,$(VGIC_UNIT_SRCS)))

# Interrupts seen from inside a Linux guest under Tally, GICv3 and GICv2
# (cortex-a72, 2 vCPUs): commands typed on the console (the PL011 receive
# interrupt), the virtual timer and IPIs counted on every CPU in
# /proc/interrupts, leaked=0 (scripts/test-console-irq).
.PHONY: test-console-irq
test-console-irq: $(LINUX_INITRAMFS) $(HYP_BIN)
	$(Q)for g in 3 2; do echo -n "gicv$$g: "; \
	    out=$$(scripts/test-console-irq $(HYP_BIN) "$(LINUX_KERNEL)" $(LINUX_INITRAMFS) \
	        --gic $$g --smp 2 --cpu cortex-a72 2>&1) || { echo "$$out" | tail -45; exit 1; }; \
	    echo "$$out" | tail -1; done
TEST_TARGETS += test-console-irq

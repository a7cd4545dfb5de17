# SPDX-License-Identifier: MIT
# The portable half of the vGIC (hyp/vgic_dist.c: interrupt model, GICv2/v3
# distributor and redistributor registers, list-register selection) linked
# into every host unit-test binary for tests/unit/test_vgic.c, as mk/dt.mk
# does for hyp/memmap.c.
VGIC_UNIT_SRCS := hyp/vgic_dist.c
VGIC_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(VGIC_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(patsubst %.c,$(BUILD)/$(v)/%.o,$(VGIC_UNIT_SRCS))))
-include $(foreach v,$(VGIC_UNIT_VARIANTS),$(patsubst %.c,$(BUILD)/$(v)/%.d,$(VGIC_UNIT_SRCS)))

# SPDX-License-Identifier: MIT
# The Spectre decision (hyp/vm/spectre_policy.c: what a guest is told about
# SMCCC_ARCH_WORKAROUND_1/2/3 and what EL2 runs on every guest exit) linked
# into every host unit-test binary for tests/unit/test_spectre.c, as
# mk/vgic.mk does for the vGIC model.
SPECTRE_UNIT_SRCS := hyp/vm/spectre_policy.c
SPECTRE_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(SPECTRE_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(patsubst %.c,$(BUILD)/$(v)/%.o,$(SPECTRE_UNIT_SRCS))))
-include $(foreach v,$(SPECTRE_UNIT_VARIANTS),$(patsubst %.c,$(BUILD)/$(v)/%.d,$(SPECTRE_UNIT_SRCS)))

# SPDX-License-Identifier: MIT
# Device-tree blobs for the memory-map tests, and hyp/core/memmap.c in the host
# unit-test binaries.
#
# build/dt/*.dtb: every tests/dt/*.dts compiled by dtc, plus QEMU's own
# device trees dumped with dumpdtb= (virt with GICv3 and GICv2, raspi4b fed
# the firmware-like tests/dt/rpi4-firmware.dts). The unit tests read them from
# $TALLY_DT_DIR (exported here; default build/dt relative to the repo root),
# so every variant -- host, sanitizers, and the cross build under
# qemu-aarch64 -- reads the same files.

DT_DIR := $(BUILD)/dt
export TALLY_DT_DIR := $(abspath $(DT_DIR))
DT_SRCS := $(sort $(wildcard tests/dt/*.dts))
DT_QEMU_BLOBS := $(DT_DIR)/qemu-virt-gicv3.dtb $(DT_DIR)/qemu-virt-gicv2.dtb \
                 $(DT_DIR)/qemu-raspi4b.dtb
DT_BLOBS := $(patsubst tests/dt/%.dts,$(DT_DIR)/%.dtb,$(DT_SRCS)) $(DT_QEMU_BLOBS)

$(DT_DIR)/%.dtb: tests/dt/%.dts | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  DTC      $@"
	$(Q)dtc -q -I dts -O dtb -i tests/dt -o $@ $<

# dtb-randomness=off: no rng-seed/kaslr-seed, the same blob every time.
$(DT_DIR)/qemu-virt-gicv3.dtb: | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  DUMPDTB  $@"
	$(Q)qemu-system-aarch64 -M virt,virtualization=on,gic-version=3,dtb-randomness=off,dumpdtb=$@ \
	    -cpu max -smp 4 -m 512M -nodefaults -display none
$(DT_DIR)/qemu-virt-gicv2.dtb: | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  DUMPDTB  $@"
	$(Q)qemu-system-aarch64 -M virt,virtualization=on,gic-version=2,dtb-randomness=off,dumpdtb=$@ \
	    -cpu cortex-a72 -smp 2 -m 1G -nodefaults -display none
# raspi4b has no device tree of its own: QEMU patches the one it is given.
$(DT_DIR)/qemu-raspi4b.dtb: $(DT_DIR)/rpi4-firmware.dtb | $(DEPS_STAMP)
	@echo "  DUMPDTB  $@"
	$(Q)qemu-system-aarch64 -M raspi4b,dumpdtb=$@ -dtb $< -nodefaults -display none

.PHONY: dt-blobs
dt-blobs: $(DT_BLOBS)

# hyp/core/memmap.c is portable C over libfdt: link it into every host unit-test
# binary (added prerequisites land in the link line's $^), and build the
# blobs first (order-only: they are data, not link inputs).
MEMMAP_UNIT_VARIANTS := host asan tsan $(CROSS_UNIT_VARIANTS)
$(foreach v,$(MEMMAP_UNIT_VARIANTS),$(eval \
  $(BUILD)/$(v)/unit-tests: $(BUILD)/$(v)/hyp/core/memmap.o | $(DT_BLOBS)))
-include $(foreach v,$(MEMMAP_UNIT_VARIANTS),$(BUILD)/$(v)/hyp/core/memmap.d)

# The Pi 4 trees share tests/dt/rpi4.dtsi.
$(patsubst tests/dt/%.dts,$(DT_DIR)/%.dtb,$(wildcard tests/dt/rpi4-*.dts)): tests/dt/rpi4.dtsi

# SPDX-License-Identifier: MIT
# `make test-qemu`: the QEMU boot scenarios (tests/qemu/scenarios.sh) run by
# tests/qemu/run-scenarios against the EL2 image, 2 at a time. Select some
# with QEMU_SCENARIOS='regex ...'; transcripts stay in build/qemu-tests/.

QEMU_TEST_IMAGE := $(or $(HYP_BIN),$(BUILD)/qemu-virt/tally.bin)

.PHONY: test-qemu
test-qemu: $(QEMU_TEST_IMAGE) | $(DEPS_STAMP)
	$(Q)TALLY_IMAGE=$(QEMU_TEST_IMAGE) TALLY_QEMU_OUT=$(BUILD)/qemu-tests \
	    tests/qemu/run-scenarios $(QEMU_SCENARIOS)

TEST_TARGETS += test-qemu

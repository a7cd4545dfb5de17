# SPDX-License-Identifier: MIT
# Raspberry Pi 4: the rpi4 EL2 image, the SD-card image, and its checks.
#
#   build/rpi4/tally.bin   Tally for the Pi 4 (HYP_PLATFORM=rpi4, built by a
#                          sub-make beside the default platform's image)
#   make rpi4-image        build/rpi4/sdcard.img: firmware, U-Boot, boot.scr,
#                          Tally and the Linux guest (docs/rpi4.md)
#   make test-rpi4-image   the image checked: MBR, FAT contents, config.txt,
#                          boot.scr's header, Tally's Image header
# The raspi4b boots themselves are QEMU scenarios (rpi4-* in
# tests/qemu/scenarios.sh, part of make test-qemu).

RPI4_BIN := $(BUILD)/rpi4/tally.bin
RPI4_IMAGE := $(BUILD)/rpi4/sdcard.img
# The guest's command line on the card: its console is the PL011 Tally
# passes through at 0x09000000 (ttyAMA0).
RPI4_GUEST_APPEND ?= console=ttyAMA0

ifneq ($(HYP_PLATFORM),rpi4)
# The sub-make decides what is stale (its own dependency files); this rule
# only has to notice that some source of the image changed.
$(RPI4_BIN): $(wildcard hyp/*/*.[chS] hyp/*.lds include/tally/*.h include/tally/*/*.h mm/*.[ch]) \
             mk/hyp.mk | $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory HYP_PLATFORM=rpi4 $(if $(HYP_DEBUG),HYP_DEBUG=$(HYP_DEBUG)) hyp
ALL_TARGETS += $(RPI4_BIN)
endif

.PHONY: rpi4-image test-rpi4-image
rpi4-image: $(RPI4_IMAGE)
$(RPI4_IMAGE): $(RPI4_BIN) $(LINUX_INITRAMFS) $(GUEST_BUILD)/linux/paths scripts/mk-rpi4-image \
               scripts/fetch-rpi4.sh
	@echo "  SDIMAGE  $@"
	$(Q)scripts/mk-rpi4-image -o $@ --tally $(RPI4_BIN) --kernel "$(LINUX_KERNEL)" \
	    --initrd $(LINUX_INITRAMFS) --append "$(RPI4_GUEST_APPEND)"

test-rpi4-image: $(RPI4_IMAGE)
	$(Q)bash tests/rpi4/check-image.sh $< $(RPI4_BIN) "$(LINUX_KERNEL)" $(LINUX_INITRAMFS)

TEST_TARGETS += test-rpi4-image
test-qemu: $(RPI4_BIN)

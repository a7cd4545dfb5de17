# SPDX-License-Identifier: MIT
# VMs (issue 5): the QEMU scenarios of tests/qemu/scenarios.sh that boot the
# test guest and Debian's Linux as VM 0 need both built first.
test-qemu: $(GUEST_BUILD)/testguest.bin $(LINUX_INITRAMFS) $(GUEST_BUILD)/linux/paths

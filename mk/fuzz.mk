# SPDX-License-Identifier: MIT
# libFuzzer targets for the portable code (tests/fuzz/, docs/fuzzing.md):
#
#   build/fuzz/fuzz_memmap   bytes as a device-tree blob -> memmap_from_fdt_at()
#   build/fuzz/fuzz_pgtable  bytes as map/unmap/protect/lookup sequences -> mm/pgtable.c
#   build/fuzz/fuzz_vgic     bytes as MMIO accesses, injections, flush/fold -> hyp/irq/vgic_dist.c
#   build/fuzz/fuzz_hypercall  bytes as HVC/SMC calls -> hyp/vm/vpsci.c, hyp/vm/hypercall.c
#   build/fuzz/fuzz_share     bytes as sharing calls and VM rebuilds -> mm/share.c
#
# Built with clang -fsanitize=fuzzer,address,undefined (the code under test
# with fuzzer-no-link: coverage and sanitizers everywhere). Seed corpora are
# generated into build/fuzz/corpus/<target>/ from build/dt/*.dtb (mk/dt.mk)
# and tests/fuzz/seeds/<target>/ (*.dts through dtc, *.hex through
# tests/fuzz/hex2bin); no binary is committed.
#
# make fuzz          every target for FUZZ_SECONDS (60) each; new inputs go to
#                    build/fuzz/work/<target>/, crashes to build/fuzz/artifacts/
# make fuzz-smoke    every target for a short fixed-seed run (part of `make test`)
# make fuzz-<name>   one target (e.g. make fuzz-memmap FUZZ_SECONDS=600)
# make fuzz-regress  every input in tests/fuzz/regress/<target>/ once: bugs the
#                    fuzzers found that are not fixed yet (not in `make test`
#                    until they are; a fixed one moves to tests/fuzz/seeds/)

FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -DTALLY_DEBUG $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LDFLAGS := $(FUZZ_SAN) -fsanitize=fuzzer
FUZZ_SECONDS ?= 60
# Parallel fuzzing processes per target (libFuzzer -fork; -jobs would write
# its logs into the current directory).
FUZZ_JOBS ?= 1
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_TARGETS := memmap pgtable vgic hypercall share
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_memmap_SRCS := tests/fuzz/fuzz_memmap.c hyp/core/memmap.c
FUZZ_memmap_LIBS := -lfdt
FUZZ_pgtable_SRCS := tests/fuzz/fuzz_pgtable.c $(MM_SRCS) $(HOSTLIB_SRCS)
FUZZ_pgtable_LIBS := -lcheck -lsubunit -lfdt -lrt -lm -pthread
FUZZ_vgic_SRCS := tests/fuzz/fuzz_vgic.c hyp/irq/vgic_dist.c
FUZZ_vgic_LIBS :=
FUZZ_hypercall_SRCS := tests/fuzz/fuzz_hypercall.c hyp/vm/hypercall.c hyp/vm/vpsci.c $(MM_SRCS) \
                       $(HOSTLIB_SRCS)
FUZZ_hypercall_LIBS := $(FUZZ_pgtable_LIBS)
FUZZ_share_SRCS := tests/fuzz/fuzz_share.c $(MM_SRCS) $(HOSTLIB_SRCS)
FUZZ_share_LIBS := $(FUZZ_pgtable_LIBS)

$(FUZZ_DIR)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC[fuzz] $<"
	$(Q)$(FUZZ_CC) $(COMMON_CFLAGS) $(ROOM_INC) $(FUZZ_CFLAGS) -c $< -o $@

define fuzz_target
$(FUZZ_DIR)/fuzz_$(1): $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_$(1)_SRCS))
	@echo "  LD[fuzz] $$@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $$@ $$^ $(FUZZ_$(1)_LIBS)
-include $(patsubst %.c,$(FUZZ_DIR)/obj/%.d,$(FUZZ_$(1)_SRCS))

# The seed corpus, rebuilt from scratch whenever a seed source changes.
$(FUZZ_DIR)/corpus/$(1)/.stamp: $(wildcard tests/fuzz/seeds/$(1)/*) tests/fuzz/hex2bin \
                                $(if $(filter memmap,$(1)),$(DT_BLOBS)) | $(DEPS_STAMP)
	@echo "  CORPUS   $(FUZZ_DIR)/corpus/$(1)"
	$(Q)rm -rf $$(dir $$@) && mkdir -p $$(dir $$@)
	$(Q)$(if $(filter memmap,$(1)),cp $(DT_BLOBS) $$(dir $$@) &&) \
	    for s in $(wildcard tests/fuzz/seeds/$(1)/*.dts); do \
	        dtc -q -I dts -O dtb -o $$(dir $$@)/$$$$(basename $$$$s .dts).dtb $$$$s || exit 1; done; \
	    for s in $(wildcard tests/fuzz/seeds/$(1)/*.hex); do \
	        python3 tests/fuzz/hex2bin $$$$s $$(dir $$@)/$$$$(basename $$$$s .hex).bin || exit 1; done
	$(Q)touch $$@
$(FUZZ_DIR)/regress/$(1)/.stamp: $(wildcard tests/fuzz/regress/$(1)/*) tests/fuzz/hex2bin | $(DEPS_STAMP)
	$(Q)rm -rf $$(dir $$@) && mkdir -p $$(dir $$@)
	$(Q)for s in $(wildcard tests/fuzz/regress/$(1)/*.dts); do \
	        dtc -q -I dts -O dtb -o $$(dir $$@)/$$$$(basename $$$$s .dts).dtb $$$$s || exit 1; done; \
	    for s in $(wildcard tests/fuzz/regress/$(1)/*.hex); do \
	        python3 tests/fuzz/hex2bin $$$$s $$(dir $$@)/$$$$(basename $$$$s .hex).bin || exit 1; done
	$(Q)touch $$@

.PHONY: fuzz-$(1) fuzz-smoke-$(1) fuzz-regress-$(1)
# Each input on its own, so that every failing one is named.
fuzz-regress-$(1): $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_DIR)/regress/$(1)/.stamp
	$(Q)fail=0; for f in $$$$(ls $(FUZZ_DIR)/regress/$(1)/); do \
	    if $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_DIR)/regress/$(1)/$$$$f >$(FUZZ_DIR)/regress/$(1)/$$$$f.log 2>&1; \
	    then echo "fuzz-regress: $(1)/$$$$f: passes"; \
	    else echo "fuzz-regress: $(1)/$$$$f: FAILS: $$$$(grep -m1 -A1 'invariant broken\|ERROR:' $(FUZZ_DIR)/regress/$(1)/$$$$f.log | tr -s ' \n' ' ')"; fail=1; fi; \
	done; exit $$$$fail
fuzz-$(1): $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_DIR)/corpus/$(1)/.stamp
	@mkdir -p $(FUZZ_DIR)/work/$(1) $(FUZZ_DIR)/artifacts
	@echo "  FUZZ     $(1) for $(FUZZ_SECONDS) s"
	$(Q)$(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) \
	    $(if $(filter-out 1,$(FUZZ_JOBS)),-fork=$(FUZZ_JOBS)) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- \
	    $(FUZZ_DIR)/work/$(1) $(FUZZ_DIR)/corpus/$(1)
# Fixed seed, bounded runs: the same inputs every time. New inputs go to a
# scratch directory that is emptied first.
fuzz-smoke-$(1): $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_DIR)/corpus/$(1)/.stamp
	@rm -rf $(FUZZ_DIR)/smoke/$(1) && mkdir -p $(FUZZ_DIR)/smoke/$(1) $(FUZZ_DIR)/artifacts
	$(Q)$(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$(1) -seed=1 -runs=$(FUZZ_SMOKE_RUNS) \
	    -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- \
	    $(FUZZ_DIR)/smoke/$(1) $(FUZZ_DIR)/corpus/$(1) 2>$(FUZZ_DIR)/smoke/$(1).log || \
	    { tail -n 60 $(FUZZ_DIR)/smoke/$(1).log; echo "fuzz-smoke: fuzz_$(1) FAILED (log: $(FUZZ_DIR)/smoke/$(1).log)"; exit 1; }
	@echo "fuzz-smoke: fuzz_$(1): $$$$(grep -o 'stat::number_of_executed_units: [0-9]*' $(FUZZ_DIR)/smoke/$(1).log | grep -o '[0-9]*$$$$') inputs, no failure"
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-regress
fuzz-build: $(foreach t,$(FUZZ_TARGETS),$(FUZZ_DIR)/fuzz_$(t) $(FUZZ_DIR)/corpus/$(t)/.stamp)
fuzz: fuzz-build
	$(Q)set -e; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t; done
fuzz-smoke: fuzz-build
	$(Q)set -e; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-smoke-$$t; done

fuzz-regress:
	$(Q)fail=0; for t in $(FUZZ_TARGETS); do \
	    [ -z "$$(ls tests/fuzz/regress/$$t 2>/dev/null)" ] || $(MAKE) --no-print-directory fuzz-regress-$$t || fail=1; \
	done; exit $$fail

TEST_TARGETS += fuzz-smoke

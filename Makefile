# SPDX-License-Identifier: MIT
# Tally: the one entry point. `make help` lists the targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash
BUILD ?= build
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

export TALLY_CACHE ?= $(HOME)/.cache/tally

# Every target that needs a tool depends on this stamp; the script is
# idempotent and quick when everything is already there.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)bash scripts/install-deps.sh
	$(Q)touch $@
.PHONY: deps
deps: $(DEPS_STAMP)

, := ,
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter
COMMON_CFLAGS := -std=gnu11 $(WARN) -Iinclude -MMD -MP
# hyp/'s rooms include each other as "room/file.h" (docs/architecture.md).
# Everything but mm/ gets -Ihyp: mm/ cannot include hyp/ even by mistake.
ROOM_INC = $(if $(filter mm/%,$<),,-Ihyp)

MM_SRCS := $(sort $(wildcard mm/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
HOSTLIB_SRCS := $(sort $(wildcard tests/host/*.c))
BENCH_SRCS := $(sort $(wildcard tests/bench/*.c))

TEST_TARGETS :=
BENCH_TARGETS :=
ALL_TARGETS :=

# host_variant NAME CC CFLAGS LDFLAGS: build $(BUILD)/NAME/unit-tests from
# the portable core, the fake architecture and every unit-test suite.
define host_variant
$(BUILD)/$(1)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	@echo "  CC[$(1)]  $$<"
	$(Q)$(2) $(COMMON_CFLAGS) $$(ROOM_INC) $(3) -c $$< -o $$@
$(BUILD)/$(1)/unit-tests: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(MM_SRCS) $(HOSTLIB_SRCS) $(UNIT_SRCS))
	@echo "  LD[$(1)]  $$@"
	$(Q)$(2) $(3) -o $$@ $$^ $(4)
-include $(patsubst %.c,$(BUILD)/$(1)/%.d,$(MM_SRCS) $(HOSTLIB_SRCS) $(UNIT_SRCS) $(BENCH_SRCS))
endef

CHECK_LIBS := -lcheck -lsubunit -lfdt -lrt -lm -pthread
HOST_CC ?= gcc
$(eval $(call host_variant,host,$(HOST_CC),-O2 -g -DTALLY_DEBUG,$(CHECK_LIBS)))
$(eval $(call host_variant,asan,clang,-O1 -g -DTALLY_DEBUG -fsanitize=address$(,)undefined -fno-sanitize-recover=all -fno-omit-frame-pointer,-fsanitize=address$(,)undefined $(CHECK_LIBS)))
$(eval $(call host_variant,tsan,clang,-O1 -g -DTALLY_DEBUG -fsanitize=thread,-fsanitize=thread $(CHECK_LIBS)))
$(eval $(call host_variant,bench,$(HOST_CC),-O2 -g -DNDEBUG -flto,-flto $(CHECK_LIBS)))

$(BUILD)/bench/bench: $(patsubst %.c,$(BUILD)/bench/%.o,$(MM_SRCS) $(HOSTLIB_SRCS) $(BENCH_SRCS))
	@echo "  LD[bench] $@"
	$(Q)$(HOST_CC) -O2 -flto -o $@ $^ $(CHECK_LIBS)

# Host unit tests: fast, the everyday loop.
.PHONY: check check-asan check-tsan
check: $(BUILD)/host/unit-tests
	$(Q)$< $(CHECK_ARGS)
# Sanitizer runs are 5-20x slower: the randomised tests run fewer steps there
# (every suite still runs; the full counts run in `make check`).
SAN_ENV := TALLY_MODEL_OPS=$${TALLY_MODEL_OPS:-200000} TALLY_STRESS_OPS=$${TALLY_STRESS_OPS:-50000} \
           TALLY_PT_MODEL_OPS=$${TALLY_PT_MODEL_OPS:-20000} \
           TALLY_SHARE_MODEL_OPS=$${TALLY_SHARE_MODEL_OPS:-600}
check-asan: $(BUILD)/asan/unit-tests
	$(Q)$(SAN_ENV) UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=0 $< $(CHECK_ARGS)
check-tsan: $(BUILD)/tsan/unit-tests
	$(Q)$(SAN_ENV) TSAN_OPTIONS=halt_on_error=1 $< $(CHECK_ARGS)

# Formatting first: clang-format decides, CI checks (.clang-format). Then the
# include rules between the rooms (docs/architecture.md).
TEST_TARGETS += format-check check-rooms check check-asan check-tsan
BENCH_TARGETS += bench-core
ALL_TARGETS += $(BUILD)/host/unit-tests

.PHONY: bench-core
bench-core: $(BUILD)/bench/bench
	$(Q)$<

-include mk/*.mk

.PHONY: all test bench clean help format format-check
all: $(ALL_TARGETS)

# The whole suite, as CI runs it. Each part prints its own summary line.
test:
	$(Q)set -e; for t in $(TEST_TARGETS); do \
	    echo "==== make $$t"; $(MAKE) --no-print-directory $$t; done; \
	echo "==== make test: all $(words $(TEST_TARGETS)) parts passed"

bench:
	$(Q)set -e; for t in $(BENCH_TARGETS); do $(MAKE) --no-print-directory $$t; done

.PHONY: check-rooms
check-rooms:
	$(Q)bash scripts/check-rooms.sh

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')
format-check: | $(DEPS_STAMP)
	$(Q)clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') && \
	    echo "format-check: $$(git ls-files '*.c' '*.h' | wc -l) files clang-formatted"

clean:
	rm -rf $(BUILD)

help:
	@echo "make run      build everything and boot Tally with a Linux guest (a shell) under QEMU"
	@echo "make run-tally  boot Tally alone: banner, accounting, power-off"
	@echo "make test     the whole test suite (what CI runs)"
	@echo "make check    host unit tests only (fast)"
	@echo "make bench    benchmarks: each figure beside a baseline measured in the same run"
	@echo "make debug    start QEMU halted with gdb-multiarch attached"
	@echo "make clean    remove $(BUILD)/"

# tollgate — the one entry point.
#
#   make            BPF objects + skeletons, libtollgate.a, tollgated, tollctl
#   make run        deps, build, start tollgated on the embedded default policy
#   make test       deps, build, every test suite (unit, bpf, cli, fuzz smoke)
#   make asan       the same build with ASan+UBSan into build/asan
#                   (`make asan test` or `ASAN=1 make test` runs the suite under it)
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (default 60)
#   make bench-bpf  ns per packet of the XDP program above an empty one (root;
#                   not part of make test; figures in docs/benchmarks.md)
#   make bench-synflood  a SYN flood through a veth: tollgate's XDP limiter
#                   against an nftables limit rule, in one run (root)
#   make bench-route  semantic routing latency with 8, 32 and 150 routes
#   make bench-guard  PII/secret scan MB/s against PCRE2-JIT, ns per stream chunk,
#                   then the routing latency of make bench-route
#   make estimate   token-estimate error against real tokenizers (docs/estimate.md)
#   make docs       regenerate docs/policy-reference.md from the schema
#   make clean
#
# NODEPS=1 skips scripts/deps.sh (CI runs it itself first).

ifneq ($(filter asan,$(MAKECMDGOALS)),)
ASAN := 1
endif

ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
CLANG     ?= clang
# Debian installs bpftool in /usr/sbin, which is not on every user's PATH.
BPFTOOL   ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

ifeq ($(ASAN),1)
BUILD     ?= build/asan
SANITIZE  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HARDEN    :=
else
BUILD     ?= build
SANITIZE  :=
HARDEN    := -D_FORTIFY_SOURCE=2
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
# CFLAGS, CPPFLAGS and LDFLAGS are the user's to add to (make CFLAGS=-O0);
# the project's own flags are always applied on top.
CFLAGS ?= -O2 -g
TG_CFLAGS = -std=gnu11 $(WARN) $(HARDEN) -fstack-protector-strong -fPIE \
	$(SANITIZE) -MMD -MP $(CFLAGS)
TG_CPPFLAGS = -Iinclude -Iuser -I$(BUILD)/bpf -I/usr/include/libnl3 -D_GNU_SOURCE \
	-DTG_VERSION='"$(VERSION)"' $(CPPFLAGS)
TG_LDFLAGS = -pie $(SANITIZE) $(LDFLAGS)
LDLIBS  := -lbpf -lelf -lz -lyaml -ljansson -lssl -lcrypto -lnl-route-3 -lnl-3 -luring -lhs -lxxhash -lpthread -lm

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.0.0)-dev

BPF_CFLAGS := --target=bpf -O2 -g -Wall -Wextra -Werror -mcpu=v3 \
	-D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -I/usr/include/$(MULTIARCH)

# ---- sources -------------------------------------------------------------

LIB_SRC  := $(sort $(wildcard user/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TGD_OBJ  := $(BUILD)/obj/user/main.o $(BUILD)/obj/user/default_policy.o
CTL_SRC  := $(sort $(wildcard tools/tollctl/*.c))
CTL_OBJ  := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)
BPF_SRC  := $(sort $(wildcard bpf/*.bpf.c))
BPF_OBJ  := $(BPF_SRC:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
BPF_SKEL := $(BPF_SRC:bpf/%.bpf.c=$(BUILD)/bpf/%.skel.h)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BPFT_SRC := $(sort $(wildcard tests/bpf/test_*.c))
BPFT_BIN := $(BPFT_SRC:tests/bpf/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

LIB      := $(BUILD)/libtollgate.a
TOLLGATED := $(BUILD)/tollgated
TOLLCTL  := $(BUILD)/tollctl

.PHONY: all asan bpf test test-build unit-test bpf-test cli-test fuzz fuzz-smoke run \
	deps docs check-docs clean bench-bpf
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BPF_SKEL) $(LIB) $(TOLLGATED) $(TOLLCTL)
asan: all
bpf: $(BPF_SKEL)

deps:
ifneq ($(NODEPS),1)
	@bash scripts/deps.sh
endif

# ---- BPF -----------------------------------------------------------------

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c include/tollgate/abi.h include/tollgate/limits.h $(wildcard bpf/lib/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst .,_,$*) > $@

# ---- user space ----------------------------------------------------------

# Everything that includes a skeleton must wait for it.
$(LIB_OBJ) $(CTL_OBJ) $(TGD_OBJ): | $(BPF_SKEL)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TG_CPPFLAGS) $(TG_CFLAGS) -c $< -o $@

# The embedded default policy: the daemon's policy when run without -c.
$(BUILD)/obj/user/default_policy.o: user/default_policy.S policies/default.yaml
	@mkdir -p $(@D)
	$(CC) $(TG_CPPFLAGS) -DTG_DEFAULT_POLICY='"policies/default.yaml"' -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(TOLLGATED): $(TGD_OBJ) $(LIB)
	$(CC) $(TG_LDFLAGS) -o $@ $^ $(LDLIBS)

$(TOLLCTL): $(CTL_OBJ) $(LIB)
	$(CC) $(TG_LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests ---------------------------------------------------------------

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/unit/guard_page.h
	@mkdir -p $(@D)
	$(CC) $(TG_CPPFLAGS) -Itests/unit $(TG_CFLAGS) $(TG_LDFLAGS) -o $@ $< $(LIB) -lcmocka $(LDLIBS)

$(BUILD)/tests/%: tests/bpf/%.c $(LIB) $(BPF_SKEL)
	@mkdir -p $(@D)
	$(CC) $(TG_CPPFLAGS) $(TG_CFLAGS) $(TG_LDFLAGS) -o $@ $< $(LIB) -lcmocka $(LDLIBS)

# deps runs to completion before anything compiles, also under make -j.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory ASAN=$(ASAN) test-build
	@BUILD=$(BUILD) bash tests/run.sh

test-build: all $(UNIT_BIN) $(BPFT_BIN)

unit-test: all $(UNIT_BIN)
	@BUILD=$(BUILD) bash tests/run.sh unit

bpf-test: all $(BPFT_BIN)
	@BUILD=$(BUILD) bash tests/run.sh bpf

cli-test: all
	@BUILD=$(BUILD) bash tests/run.sh cli

# ---- benchmarks (never in make test) --------------------------------------

$(BUILD)/bench/%: tests/bench/%.c $(LIB) $(BPF_SKEL)
	@mkdir -p $(@D)
	$(CC) $(TG_CPPFLAGS) $(TG_CFLAGS) $(TG_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench-bpf: all $(BUILD)/bench/bench_bpf
	$(BUILD)/bench/bench_bpf

# ns per 1.3 KB chat request: the hot-path JSON scanner and rewriter against
# jansson in the same run (figures in docs/benchmarks.md).
.PHONY: bench-json
bench-json: $(BUILD)/bench/bench_json
	$(BUILD)/bench/bench_json

# PII/secret scan throughput against PCRE2-JIT and stream cost per chunk,
# then routing latency (issue 6's benchmark is both)
# (figures in docs/benchmarks.md, "Guard"); PCRE2 is linked into this
# bench only.
.PHONY: bench-guard
$(BUILD)/bench/bench_guard: LDLIBS += -lpcre2-8
bench-guard: all $(BUILD)/bench/bench_guard $(BUILD)/bench/bench_route
	$(BUILD)/bench/bench_guard
	$(BUILD)/bench/bench_route

# tollgated vs nginx vs the upstream directly as a reverse proxy: req/s,
# p50/p99, CPU per request, SSE, idle memory (figures in docs/benchmarks.md,
# "Proxy"; BENCH_QUICK=1 for a one-minute smoke run).
.PHONY: bench-proxy
bench-proxy: all
	BUILD=$(BUILD) bash tests/bench/proxy_bench.sh

# A SYN flood through a veth pair: tollgate's XDP limiter against an
# nftables limit rule, dropped/s and CPU per packet (root; figures in
# docs/benchmarks.md).
.PHONY: bench-synflood
bench-synflood: all $(BUILD)/bench/synflood
	BUILD=$(BUILD) bash tests/bench/syn_flood.sh

# What LLM governance costs: tollgated's front door (auth, limits, budget,
# accounting, audit, metrics) vs tollgated as a plain proxy vs nginx vs the
# upstream directly (figures in docs/benchmarks.md, "LLM gateway").
.PHONY: bench-llm
bench-llm: all $(BUILD)/bench/openloop
	BUILD=$(BUILD) bash tests/bench/llm_bench.sh

# The token estimate against gpt-tokenizer's o200k/cl100k counts on the
# corpus of tests/estimate (figures in docs/estimate.md).
.PHONY: estimate
estimate: deps
	node tests/estimate/measure.mjs

# Semantic routing latency, p50/p99 for short, 200-byte and 2 KB prompts
# with 8, 32 and 150 routes, and training time (figures in
# docs/benchmarks.md, "Routing").
.PHONY: bench-route
bench-route: all $(BUILD)/bench/bench_route
	$(BUILD)/bench/bench_route

# ---- fuzzing (clang libFuzzer, always with ASan+UBSan) --------------------

FUZZ_LIB_SRC := $(LIB_SRC)
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -Wno-missing-prototypes \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC) | $(BPF_SKEL)
	@mkdir -p $(@D)
	$(CLANG) $(TG_CPPFLAGS) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BIN)

fuzz-smoke: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BIN)

# ---- docs ----------------------------------------------------------------

docs: $(TOLLCTL)
	$(TOLLCTL) policy schema > docs/policy-reference.md

check-docs: $(TOLLCTL)
	@$(TOLLCTL) policy schema | diff -u docs/policy-reference.md - \
		|| { echo "docs/policy-reference.md is stale: run 'make docs'"; exit 1; }

# ---- run -----------------------------------------------------------------

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory ASAN=$(ASAN) all
	@echo "tollgated: starting on the embedded default policy (policies/default.yaml)"
	@exec $(TOLLGATED)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

# Makefile: the entry points of a fresh clone: `make demo` and `make test` (each sets up everything first).
# Outputs: the daemon at .build/release/denalid, guest images at Guests/build/<name>.elf.

# Swift 6.3.1 lives at /opt/swift; use it when swift is not already on PATH.
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

SWIFT ?= swift
# Build jobs and parallel tests: one per core (2 on our machines); guests share the cores with the suite.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DENALID := .build/release/denalid

.PHONY: all setup build guests test test-tsan test-asan demo bench clean
all: build

setup:
	@bash scripts/setup.sh

build: setup guests
	$(SWIFT) build -c release -j $(JOBS)

guests: setup
	$(MAKE) -C Guests

# The tests run guest images and the (debug) daemon, found through these variables.
# Swift Testing runs tests in parallel by default; cap it at $(JOBS) so KVM-heavy tests do not pile up.
test: setup guests
	$(SWIFT) build -j $(JOBS)
	DENALI_GUESTS_DIR=$(CURDIR)/Guests/build DENALID=$(CURDIR)/.build/debug/denalid \
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(JOBS) \
		$(SWIFT) test -j $(JOBS)

# The suite under ThreadSanitizer / AddressSanitizer (builds in .build-tsan / .build-asan; any report fails).
test-tsan: setup guests
	bash scripts/sanitized-tests.sh thread

test-asan: setup guests
	bash scripts/sanitized-tests.sh address

demo: build
	@bash scripts/demo.sh

# Every benchmark with its defaults (about 20 minutes; `net` and `tcp` need root: they make their own namespaces).
BENCHMARKS := boot hypercall idle switch scale swap overcommit spawn net tcp
bench: build
	@for benchmark in $(BENCHMARKS); do echo "== denali-bench $$benchmark"; \
		.build/release/denali-bench $$benchmark || exit 1; done

clean:
	$(MAKE) -C Guests clean
	rm -rf .build

# Fuzzes the control API against Docs/openapi.yaml (schemathesis from PyPI, over control-api-fixture).
.PHONY: api-fuzz
api-fuzz: setup
	bash scripts/schemathesis.sh

# libFuzzer harnesses (Tests/Fuzz, a package of its own, so `swift build` never builds them) for the parsers of
# hostile input: swap files, the VM journal, guest images (ELF), control API requests, Ethernet frames. Each
# runs for FUZZ_SECONDS from its committed corpus (Tests/Fuzz/corpus/<target>, read-only) plus a working one
# in .build-fuzz/corpus; a crash stops make and leaves its input in .build-fuzz/crashes.
# `make fuzz-corpus` merges what the runs found into the committed corpora, minimized (-merge=1).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= swap-file journal guest-image control-request ethernet-frame
FUZZ_BUILD := $(CURDIR)/.build-fuzz
FUZZ_BIN := $(FUZZ_BUILD)/release
FUZZ_OPTIONS ?= -rss_limit_mb=2048 -timeout=20 -max_len=65536
.PHONY: fuzz fuzz-build fuzz-corpus fuzz-seeds
fuzz-build: setup
	$(SWIFT) build --package-path Tests/Fuzz --scratch-path $(FUZZ_BUILD) -c release -j $(JOBS) \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -DDENALI_FUZZING \
		-Xcc -fsanitize=fuzzer-no-link,address

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/crashes
	@for target in $(FUZZ_TARGETS); do \
		echo "fuzz-$$target: $(FUZZ_SECONDS) s"; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$target Tests/Fuzz/corpus/$$target; \
		$(FUZZ_BIN)/fuzz-$$target $(FUZZ_OPTIONS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$target- \
			$(FUZZ_BUILD)/corpus/$$target Tests/Fuzz/corpus/$$target 2>$(FUZZ_BUILD)/fuzz-$$target.log \
			|| { tail -40 $(FUZZ_BUILD)/fuzz-$$target.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_BUILD)/fuzz-$$target.log; \
	done

fuzz-corpus: fuzz-build
	@for target in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_BUILD)/merged/$$target && mkdir -p $(FUZZ_BUILD)/merged/$$target $(FUZZ_BUILD)/corpus/$$target; \
		$(FUZZ_BIN)/fuzz-$$target $(FUZZ_OPTIONS) -merge=1 $(FUZZ_BUILD)/merged/$$target \
			Tests/Fuzz/corpus/$$target $(FUZZ_BUILD)/corpus/$$target 2>/dev/null || exit 1; \
		rm -rf Tests/Fuzz/corpus/$$target && mv $(FUZZ_BUILD)/merged/$$target Tests/Fuzz/corpus/$$target; \
		echo "fuzz-$$target: $$(ls Tests/Fuzz/corpus/$$target | wc -l) inputs, $$(du -sk Tests/Fuzz/corpus/$$target | cut -f1) KiB"; \
	done

# Writes each harness's seed inputs (valid files made by the code itself) into its committed corpus.
fuzz-seeds: fuzz-build
	@for target in $(FUZZ_TARGETS); do \
		DENALI_FUZZ_SEEDS=Tests/Fuzz/corpus/$$target $(FUZZ_BIN)/fuzz-$$target -runs=1 >/dev/null 2>&1 || exit 1; \
	done

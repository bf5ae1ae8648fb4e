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

bench: build
	$(DENALID) bench boot

clean:
	$(MAKE) -C Guests clean
	rm -rf .build

# Fuzzes the control API against Docs/openapi.yaml (schemathesis from PyPI, over control-api-fixture).
.PHONY: api-fuzz
api-fuzz: setup
	bash scripts/schemathesis.sh

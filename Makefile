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

# The git commit the build comes from (12 hex digits, -dirty for a work tree with changes), for `denalid --version`
# and GET /v1/health; Package.swift passes it to Sources/CBuildInfo. Empty without git metadata: the build says
# "commit unknown" then, as a plain `swift build` does.
export DENALI_GIT_COMMIT := $(shell bash scripts/git-commit.sh)
# The package version, written once in Sources/CBuildInfo/include/build_info.h.
DENALI_VERSION := $(shell sed -n 's/^\#define DENALI_PACKAGE_VERSION "\(.*\)"/\1/p' Sources/CBuildInfo/include/build_info.h)

# What install, uninstall and deb take: CONFIGURATION's build (release, or debug for the tests).
CONFIGURATION ?= release
GENERATED = .build/$(CONFIGURATION)-generated
# Where `make install` puts things (DESTDIR is prepended to each): GNU-style, the configuration always in /etc.
# Set them on the command line (make install PREFIX=/usr); the environment does not reach them.
DESTDIR ?=
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share
MANDIR = $(DATADIR)/man
DOCDIR = $(DATADIR)/doc/denali
GUESTDIR = $(DATADIR)/denali/guests
SYSCONFDIR = /etc
UNITDIR = $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d
BASHCOMPDIR = $(DATADIR)/bash-completion/completions
ZSHCOMPDIR = $(DATADIR)/zsh/site-functions
FISHCOMPDIR = $(DATADIR)/fish/vendor_completions.d
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" DATADIR="$(DATADIR)" MANDIR="$(MANDIR)" \
	DOCDIR="$(DOCDIR)" GUESTDIR="$(GUESTDIR)" SYSCONFDIR="$(SYSCONFDIR)" UNITDIR="$(UNITDIR)" \
	SYSUSERSDIR="$(SYSUSERSDIR)" BASHCOMPDIR="$(BASHCOMPDIR)" ZSHCOMPDIR="$(ZSHCOMPDIR)" FISHCOMPDIR="$(FISHCOMPDIR)" \
	CONFIGURATION="$(CONFIGURATION)" GENERATED="$(GENERATED)"
# NO_BUILD=1: install (or package) what was built before, without building (`make build docs` as yourself, then
# `sudo make install NO_BUILD=1`).
BUILD_FIRST = $(if $(NO_BUILD),,build docs)
# Where `make deb` writes the package; DEB_COMPRESSION and DEB_LEVEL: dpkg-deb's -Z and -z (xz at its default
# level; the tests' package is gzip -1: 1 s instead of 15 s for the debug build).
DEB_DIR = .build/$(CONFIGURATION)-deb
DEB_COMPRESSION = xz
DEB_LEVEL =
ARCHITECTURE := $(shell dpkg --print-architecture 2>/dev/null)
DEB = $(DEB_DIR)/denali_$(DENALI_VERSION)_$(ARCHITECTURE).deb

.PHONY: all setup build guests docs test test-tsan test-asan demo bench clean install uninstall deb check format
all: build

setup:
	@bash scripts/setup.sh

build: setup guests
	$(SWIFT) build -c $(CONFIGURATION) -j $(JOBS)

guests: setup
	$(MAKE) -C Guests

# Man pages and bash/zsh/fish completions, generated from denalid's argument parser into $(GENERATED).
docs: setup
	SWIFT=$(SWIFT) bash scripts/generate-docs.sh $(CONFIGURATION) $(GENERATED)

# make install [PREFIX=/usr/local] [DESTDIR=] [NO_BUILD=1]; make uninstall with the same PREFIX and DESTDIR.
install: $(BUILD_FIRST)
	$(INSTALL_ENV) bash scripts/install.sh install

uninstall:
	$(INSTALL_ENV) bash scripts/install.sh uninstall

# A Debian package of this build: $(DEB) (see Config/README.md).
deb: $(BUILD_FIRST)
	CONFIGURATION=$(CONFIGURATION) GENERATED=$(GENERATED) DEB_DIR=$(DEB_DIR) DEB_COMPRESSION=$(DEB_COMPRESSION) \
	DEB_LEVEL=$(DEB_LEVEL) DENALI_VERSION=$(DENALI_VERSION) bash scripts/build-deb.sh

# The tests run guest images and the (debug) daemon, found through these variables.
# Swift Testing runs tests in parallel by default; cap it at $(JOBS) so KVM-heavy tests do not pile up.
# First the debug build's man pages, completions and Debian package (.build/debug-deb), which the packaging tests
# (Tests/ControlAPITests: DebianPackageTests, DpkgInstallTests, MakeInstallTests) check.
test: setup guests check
	$(SWIFT) build -j $(JOBS)
	$(MAKE) --no-print-directory docs CONFIGURATION=debug
	$(MAKE) --no-print-directory deb CONFIGURATION=debug NO_BUILD=1 DEB_COMPRESSION=gzip DEB_LEVEL=1
	DENALI_GUESTS_DIR=$(CURDIR)/Guests/build DENALID=$(CURDIR)/.build/debug/denalid \
	DENALI_DEB=$(CURDIR)/.build/debug-deb/denali_$(DENALI_VERSION)_$(ARCHITECTURE).deb \
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(JOBS) \
		$(SWIFT) test -j $(JOBS)

# The Swift sources' layout, checked against the committed .swift-format (swift-format from the toolchain):
# `make check` fails on any drift, `make format` rewrites the files in place.
SWIFT_FORMAT ?= swift-format
FORMATTED = Package.swift Sources Tests Guests
check:
	$(SWIFT_FORMAT) lint --strict --parallel --recursive --configuration .swift-format $(FORMATTED)

format:
	$(SWIFT_FORMAT) format --in-place --parallel --recursive --configuration .swift-format $(FORMATTED)

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

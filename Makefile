# tunnel-dispatcher: the static agent, its tests, demo and benchmarks.
#   make          the five agents, the tunnel client and the fora connectors' wheel, in dist/:
#                   tunnel-dispatcher (x86_64), tunnel-dispatcher-aarch64, -armv7, -i686,
#                                 -riscv64  the agents (Embedded Swift, fully static against musl)
#                   tunnel        the client, a static release build (Swift stdlib and glibc linked in)
#                   fora_tunnel_dispatcher-*.whl  fora's tunnel-ssh, tunnel-docker and
#                                 tunnel-podman connectors, the five agents inside
#   make static   dist/tunnel-dispatcher alone; make aarch64 (armv7, i686, riscv64):
#                 dist/tunnel-dispatcher-aarch64 (-armv7, -i686, -riscv64); make arches: all four
#   make install  PREFIX/bin/tunnel and PREFIX/libexec/tunnel-dispatcher/ (PREFIX=/usr/local)
#   make demo     build it and run a short live session through a pipe
#   make test     every test: swift test, end-to-end, conformance against the reference
#   make bench    side-by-side benchmarks against the Python reference, rsync and scp
#                 (BENCH_FLAGS=--big adds the 100,000 and 1,000,000-entry trees)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
BUILD := .build-static
DIST := dist
VENV := .venv
STATIC_INPUTS := $(wildcard Sources/CPosix/*.c Sources/CPosix/include/*) \
	$(shell find Sources/TunnelWire Sources/TunnelHash Sources/TunnelHashAVX2 Sources/TunnelAgent Tests/sha512-check Sources/tunnel-dispatcher -name '*.swift') \
	scripts/build-static.sh

PREFIX := /usr/local
CLIENT_INPUTS := Package.swift $(shell find Sources/TunnelWire Sources/TunnelClient Sources/tunnel Sources/TunnelHash \
	Sources/TunnelHashAVX2 -name '*.swift') $(wildcard Sources/CTunnelClient/*.c Sources/CTunnelClient/include/*.h \
	Sources/CPosix/*.c Sources/CPosix/include/*.h)
# The agents for other machines than x86_64, each tested under qemu-user.
ARCHES := aarch64 armv7 i686 riscv64
ARCH_AGENTS := $(ARCHES:%=$(DIST)/tunnel-dispatcher-%)
WHEEL_INPUTS := scripts/build-wheel.py Sources/TunnelWire/Version.swift packaging/fora/fora_tunnel_dispatcher/__init__.py \
	Sources/TunnelClient/Bootstrap/bootstrap.sh $(DIST)/tunnel-dispatcher $(ARCH_AGENTS)
WHEEL_VERSION := $(shell sed -n 's/^public let projectVersion = "\(.*\)"/\1/p' Sources/TunnelWire/Version.swift)
WHEEL := $(DIST)/fora_tunnel_dispatcher-$(WHEEL_VERSION)-py3-none-any.whl

.PHONY: all static arches $(ARCHES) client wheel install demo test test-arches test-sanitize fuzz bench clean setup
all: static arches client wheel
static: $(DIST)/tunnel-dispatcher
arches: $(ARCH_AGENTS)
$(ARCHES): %: $(DIST)/tunnel-dispatcher-%
client: $(DIST)/tunnel
wheel: $(WHEEL)

# See scripts/build-static.sh: swiftc per module in Embedded mode, clang + lld against musl.
# After each agent, dist/agents.sha256 (the agents' hashes, so that tunnel does not hash them
# on every start: scripts/write-agent-manifest.sh).
AGENT_MANIFEST := scripts/write-agent-manifest.sh
$(DIST)/tunnel-dispatcher: $(STATIC_INPUTS)
	scripts/build-static.sh x86_64
	$(AGENT_MANIFEST) $(DIST)

$(DIST)/tunnel-dispatcher-%: $(STATIC_INPUTS) scripts/setup.sh
	scripts/build-static.sh $*
	$(AGENT_MANIFEST) $(DIST)

# The client runs where no Swift toolchain is installed: a static executable (its stdlib,
# glibc and libstdc++ linked in); stripped, about 15 MB. Static because every `tunnel` call
# is a start: without the dynamic loader, its relocations and the shared libraries'
# constructors, `tunnel --version` costs 1.9 ms of CPU instead of 3.2 (docs/performance.md).
# It looks up no user or host names locally, so glibc's NSS (which a static glibc cannot
# load) is never needed; the linker's warnings about getgrnam_r and dlopen come from
# library code tunnel does not call.
$(DIST)/tunnel: $(CLIENT_INPUTS)
	@mkdir -p .build $(DIST)
	swift build -c release --static-swift-stdlib -Xswiftc -static-executable --product tunnel > .build/tunnel-release.log 2>&1 \
		|| { tail -n 30 .build/tunnel-release.log; exit 1; }
	install -m 755 -s .build/release/tunnel $@

$(WHEEL): $(WHEEL_INPUTS)
	python3 scripts/build-wheel.py $(DIST)

# tunnel finds the agents in ../libexec/tunnel-dispatcher/ from its own folder, with their
# manifest (written there, for the installed names and times).
install: $(DIST)/tunnel $(DIST)/tunnel-dispatcher $(ARCH_AGENTS)
	install -D -m 755 $(DIST)/tunnel $(DESTDIR)$(PREFIX)/bin/tunnel
	install -D -m 755 $(DIST)/tunnel-dispatcher $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher/tunnel-dispatcher-x86_64
	for arch in $(ARCHES); do \
		install -D -m 755 $(DIST)/tunnel-dispatcher-$$arch $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher/tunnel-dispatcher-$$arch || exit 1; \
	done
	$(AGENT_MANIFEST) $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher

clean:
	rm -rf $(BUILD) $(DIST) .build-fuzz .build-asan .build-ubsan

# ---------------------------------------------------------------------------------------
# Tests: unit (swift test), then the static binary end to end and against the reference.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider

setup:
	@scripts/setup.sh test

test: setup static arches client
	@# The full log goes to a file; failures and the per-suite summaries are shown.
	@mkdir -p .build && swift test > .build/swift-test.log 2>&1; status=$$?; \
		grep -E "error:|failed|Executed .* tests" .build/swift-test.log | tail -n 20; \
		exit $$status
	$(PYTEST) -q Tests/conformance
	@$(MAKE) --no-print-directory test-arches
	@echo "A short run of each fuzzer (make fuzz runs them longer):"
	FUZZ_SECONDS=20 scripts/fuzz.sh

# Each other machine's agent under qemu-user, against the reference: the whole conformance
# suite (the 23 original packets) and a representative set of the extensions
# (test_arches_extensions.py) for each of the four, all at once (a suite mostly waits on pipes
# and processes: the four together took 262 s on 2 vCPUs, 496 tests each). The log of
# each goes to .build/test-ARCH.log; its summary line is shown.
test-arches: $(ARCH_AGENTS)
	@mkdir -p .build; status=0; \
	for arch in $(ARCHES); do \
		TUNNEL_AGENT=$(CURDIR)/scripts/run-$$arch.sh $(PYTEST) -q Tests/conformance/test_conformance.py \
			Tests/conformance/test_arches_extensions.py > .build/test-$$arch.log 2>&1 & \
	done; \
	for arch in $(ARCHES); do wait -n || status=1; done; \
	for arch in $(ARCHES); do echo "$$arch agent under qemu-user: $$(tail -n 1 .build/test-$$arch.log)"; done; \
	exit $$status

# libFuzzer over the decoder, a whole in-process Session (chrooted) and the parsers, with
# AddressSanitizer; FUZZ_SECONDS each (default 60). See docs/security.md.
fuzz:
	scripts/fuzz.sh

# The unit and in-process tests under AddressSanitizer, then UndefinedBehaviorSanitizer.
# LeakSanitizer is off here: XCTest keeps every test object alive until exit, which it would
# report; leaks are caught instead by the flat-memory tests (test_faults.py). UBSan is for
# the C shim (Swift has no such mode: its debug build traps on overflow and bounds itself),
# and stops at the first report.
# Each run's log goes to a file; the summary is shown, and the run fails on a failed test or
# on any sanitizer report, even one that did not change swift test's exit status.
SANITIZER_REPORT := ERROR: AddressSanitizer|runtime error:|ThreadSanitizer
test-sanitize:
	@mkdir -p .build
	ASAN_OPTIONS=detect_leaks=0 swift test --scratch-path .build-asan --sanitize=address > .build/asan.log 2>&1; \
		status=$$?; $(call sanitizer_verdict,.build/asan.log)
	swift test --scratch-path .build-ubsan -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
		-Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined > .build/ubsan.log 2>&1; \
		status=$$?; $(call sanitizer_verdict,.build/ubsan.log)
	@# ThreadSanitizer over the client's concurrent tests (a report stops the run: halt_on_error).
	TSAN_OPTIONS=halt_on_error=1 swift test --scratch-path .build-tsan --sanitize=thread \
		--filter 'ClientConcurrencyTests|CancellationTests' > .build/tsan.log 2>&1; \
		status=$$?; $(call sanitizer_verdict,.build/tsan.log)

# $(1): a log; $$status: the exit status of the run that wrote it.
sanitizer_verdict = grep -E "error:|Executed .* tests|$(SANITIZER_REPORT)" $(1) | tail -n 5; \
	if grep -qE "$(SANITIZER_REPORT)" $(1); then echo "sanitizer report in $(1)" >&2; exit 1; fi; exit $$status

demo: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/demo.py $(DIST)/tunnel-dispatcher

# The client too: the tree and sync cases time `tunnel` beside rsync and scp.
# BENCH_FLAGS: e.g. --quick, --big (the 100,000 and 1,000,000-entry trees), --only sync.
bench: static client
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/bench.py $(DIST)/tunnel-dispatcher $(BENCH_FLAGS)

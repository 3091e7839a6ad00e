# tunnel-dispatcher: the static agent, its tests, demo and benchmarks.
#   make          both agents, the tunnel client and the fora connector's wheel, in dist/:
#                   tunnel-dispatcher, tunnel-dispatcher-aarch64  the agents (Embedded Swift,
#                                 fully static against musl)
#                   tunnel        the client, a release build with the Swift stdlib linked in
#                   fora_tunnel_dispatcher-*.whl  fora's tunnel-ssh connector, both agents inside
#   make static   dist/tunnel-dispatcher alone; make aarch64: dist/tunnel-dispatcher-aarch64
#   make install  PREFIX/bin/tunnel and PREFIX/libexec/tunnel-dispatcher/ (PREFIX=/usr/local)
#   make demo     build it and run a short live session through a pipe
#   make test     every test: swift test, end-to-end, conformance against the reference
#   make bench    side-by-side benchmarks against the Python reference
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
WHEEL_INPUTS := scripts/build-wheel.py packaging/fora/fora_tunnel_dispatcher/__init__.py \
	Sources/TunnelClient/Bootstrap/bootstrap.sh $(DIST)/tunnel-dispatcher $(DIST)/tunnel-dispatcher-aarch64
WHEEL_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' packaging/fora/fora_tunnel_dispatcher/__init__.py)
WHEEL := $(DIST)/fora_tunnel_dispatcher-$(WHEEL_VERSION)-py3-none-any.whl

.PHONY: all static aarch64 client wheel install demo test test-sanitize fuzz bench clean setup
all: static aarch64 client wheel
static: $(DIST)/tunnel-dispatcher
aarch64: $(DIST)/tunnel-dispatcher-aarch64
client: $(DIST)/tunnel
wheel: $(WHEEL)

# See scripts/build-static.sh: swiftc per module in Embedded mode, clang + lld against musl.
# After each agent, dist/agents.sha256 (the agents' hashes, so that tunnel does not hash them
# on every start: scripts/write-agent-manifest.sh).
AGENT_MANIFEST := scripts/write-agent-manifest.sh
$(DIST)/tunnel-dispatcher: $(STATIC_INPUTS)
	scripts/build-static.sh x86_64
	$(AGENT_MANIFEST) $(DIST)

$(DIST)/tunnel-dispatcher-aarch64: $(STATIC_INPUTS)
	scripts/build-static.sh aarch64
	$(AGENT_MANIFEST) $(DIST)

# The client runs where no Swift toolchain is installed: its stdlib is linked in (glibc and
# libstdc++ stay shared, as on any Linux desktop or CI runner); stripped, about 15 MB.
$(DIST)/tunnel: $(CLIENT_INPUTS)
	@mkdir -p .build $(DIST)
	swift build -c release --static-swift-stdlib --product tunnel > .build/tunnel-release.log 2>&1 \
		|| { tail -n 30 .build/tunnel-release.log; exit 1; }
	install -m 755 -s .build/release/tunnel $@

$(WHEEL): $(WHEEL_INPUTS)
	python3 scripts/build-wheel.py $(DIST)

# tunnel finds the agents in ../libexec/tunnel-dispatcher/ from its own folder, with their
# manifest (written there, for the installed names and times).
install: $(DIST)/tunnel $(DIST)/tunnel-dispatcher $(DIST)/tunnel-dispatcher-aarch64
	install -D -m 755 $(DIST)/tunnel $(DESTDIR)$(PREFIX)/bin/tunnel
	install -D -m 755 $(DIST)/tunnel-dispatcher $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher/tunnel-dispatcher-x86_64
	install -D -m 755 $(DIST)/tunnel-dispatcher-aarch64 $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher/tunnel-dispatcher-aarch64
	$(AGENT_MANIFEST) $(DESTDIR)$(PREFIX)/libexec/tunnel-dispatcher

clean:
	rm -rf $(BUILD) $(DIST) .build-fuzz .build-asan .build-ubsan

# ---------------------------------------------------------------------------------------
# Tests: unit (swift test), then the static binary end to end and against the reference.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider

setup:
	@scripts/setup.sh test

test: setup static aarch64 client
	@# The full log goes to a file; failures and the per-suite summaries are shown.
	@mkdir -p .build && swift test > .build/swift-test.log 2>&1; status=$$?; \
		grep -E "error:|failed|Executed .* tests" .build/swift-test.log | tail -n 20; \
		exit $$status
	$(PYTEST) -q Tests/conformance
	@echo "The aarch64 agent under qemu-user, against the reference:"
	TUNNEL_AGENT=$(CURDIR)/scripts/run-aarch64.sh $(PYTEST) -q Tests/conformance/test_conformance.py
	@echo "A short run of each fuzzer (make fuzz runs them longer):"
	FUZZ_SECONDS=20 scripts/fuzz.sh

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

bench: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/bench.py $(DIST)/tunnel-dispatcher

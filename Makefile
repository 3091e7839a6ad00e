# tunnel-dispatcher: the static agent, its tests, demo and benchmarks.
#   make          dist/tunnel-dispatcher (Embedded Swift, fully static against musl)
#   make aarch64  dist/tunnel-dispatcher-aarch64 (the same for arm64 Linux)
#   make demo     build it and run a short live session through a pipe
#   make test     every test: swift test, end-to-end, conformance against the reference
#   make bench    side-by-side benchmarks against the Python reference
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
BUILD := .build-static
DIST := dist
VENV := .venv
STATIC_INPUTS := $(wildcard Sources/CPosix/*.c Sources/CPosix/include/*) \
	$(shell find Sources/TunnelWire Sources/TunnelHash Sources/TunnelAgent Sources/tunnel-dispatcher -name '*.swift') \
	scripts/build-static.sh

.PHONY: all static aarch64 demo test test-sanitize fuzz bench clean setup
all: static
static: $(DIST)/tunnel-dispatcher
aarch64: $(DIST)/tunnel-dispatcher-aarch64

# See scripts/build-static.sh: swiftc per module in Embedded mode, clang + lld against musl.
$(DIST)/tunnel-dispatcher: $(STATIC_INPUTS)
	scripts/build-static.sh x86_64

$(DIST)/tunnel-dispatcher-aarch64: $(STATIC_INPUTS)
	scripts/build-static.sh aarch64

clean:
	rm -rf $(BUILD) $(DIST) .build-fuzz .build-asan .build-ubsan

# ---------------------------------------------------------------------------------------
# Tests: unit (swift test), then the static binary end to end and against the reference.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider

setup:
	@scripts/setup.sh test

test: setup static aarch64
	@# The full log goes to a file; failures and the per-suite summaries are shown.
	@mkdir -p .build && swift test > .build/swift-test.log 2>&1; status=$$?; \
		grep -E "error:|failed|Executed .* tests" .build/swift-test.log | tail -n 20; \
		exit $$status
	@# The command-line client, for Tests/conformance/test_cli.py.
	@swift build --product tunnel > .build/tunnel-build.log 2>&1 || { tail -n 30 .build/tunnel-build.log; exit 1; }
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
test-sanitize:
	ASAN_OPTIONS=detect_leaks=0 swift test --scratch-path .build-asan --sanitize=address 2>&1 | grep -E "error:|Executed .* tests|ERROR: AddressSanitizer" | tail -n 5
	swift test --scratch-path .build-ubsan -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
		-Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined 2>&1 | grep -E "error:|Executed .* tests|runtime error" | tail -n 5

demo: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/demo.py $(DIST)/tunnel-dispatcher

bench: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/bench.py $(DIST)/tunnel-dispatcher

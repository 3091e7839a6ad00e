# tunnel-dispatcher: the static agent, its tests, demo and benchmarks.
#   make          dist/tunnel-dispatcher (Embedded Swift, fully static against musl)
#   make demo     build it and run a short live session through a pipe
#   make test     every test: swift test, end-to-end, conformance against the reference
#   make bench    side-by-side benchmarks against the Python reference
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
SWIFT_BIN ?= $(dir $(shell command -v swiftc 2>/dev/null || echo /opt/swift/usr/bin/swiftc))
SWIFTC := $(SWIFT_BIN)swiftc
CLANG := $(SWIFT_BIN)clang
EMBEDDED_LIB := $(SWIFT_BIN)../lib/swift/embedded/x86_64-unknown-linux-gnu
BUILD := .build-static
SYSROOT := $(BUILD)/musl-sysroot
DIST := dist
VENV := .venv

EMBEDDED_FLAGS := -enable-experimental-feature Embedded -wmo -Osize \
	-target x86_64-unknown-linux-gnu -sdk $(SYSROOT) \
	-Xfrontend -function-sections -I $(BUILD) -I Sources/CPosix/include
C_FLAGS := --target=x86_64-unknown-linux-musl --sysroot=$(SYSROOT) -Os -Wall -Werror \
	-ffunction-sections -fdata-sections -DTUNNEL_EMBEDDED_MAIN -I Sources/CPosix/include

WIRE_SOURCES := $(wildcard Sources/TunnelWire/*.swift)
AGENT_SOURCES := $(wildcard Sources/TunnelAgent/*.swift)

.PHONY: all static demo test bench clean setup
all: static
static: $(DIST)/tunnel-dispatcher

# musl-tools provides musl's headers and libc.a; install it when we may.
$(SYSROOT)/.ready:
	@scripts/setup.sh musl
	mkdir -p $(SYSROOT)/usr
	ln -sfn /usr/include/x86_64-linux-musl $(SYSROOT)/usr/include
	ln -sfn /usr/lib/x86_64-linux-musl $(SYSROOT)/usr/lib
	touch $@

$(BUILD)/CPosix.o: Sources/CPosix/tunnel_posix.c Sources/CPosix/include/tunnel_posix.h $(SYSROOT)/.ready
	$(CLANG) $(C_FLAGS) -c $< -o $@

$(BUILD)/TunnelWire.o: $(WIRE_SOURCES) $(SYSROOT)/.ready
	$(SWIFTC) $(EMBEDDED_FLAGS) -parse-as-library -module-name TunnelWire \
		-emit-module -emit-module-path $(BUILD)/TunnelWire.swiftmodule -c $(WIRE_SOURCES) -o $@

$(BUILD)/TunnelAgent.o: $(AGENT_SOURCES) $(BUILD)/TunnelWire.o
	$(SWIFTC) $(EMBEDDED_FLAGS) -parse-as-library -module-name TunnelAgent \
		-emit-module -emit-module-path $(BUILD)/TunnelAgent.swiftmodule -c $(AGENT_SOURCES) -o $@

$(BUILD)/main.o: Sources/tunnel-dispatcher/main.swift $(BUILD)/TunnelAgent.o
	$(SWIFTC) $(EMBEDDED_FLAGS) -module-name tunnel_dispatcher \
		-Xfrontend -entry-point-function-name -Xfrontend tunnel_swift_main -c $< -o $@

$(DIST)/tunnel-dispatcher: $(BUILD)/CPosix.o $(BUILD)/TunnelWire.o $(BUILD)/TunnelAgent.o $(BUILD)/main.o
	mkdir -p $(DIST)
	$(CLANG) --target=x86_64-unknown-linux-musl --sysroot=$(SYSROOT) -static -fuse-ld=lld \
		-rtlib=compiler-rt $^ $(EMBEDDED_LIB)/libswiftUnicodeDataTables.a \
		-Wl,--gc-sections,-s -o $@
	@scripts/check-static.sh $@

clean:
	rm -rf $(BUILD) $(DIST)

# ---------------------------------------------------------------------------------------
# Tests: unit (swift test), then the static binary end to end and against the reference.
PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider

setup:
	@scripts/setup.sh test

test: setup static
	@# The full log goes to a file; failures and the per-suite summaries are shown.
	@mkdir -p .build && swift test > .build/swift-test.log 2>&1; status=$$?; \
		grep -E "error:|failed|Executed .* tests" .build/swift-test.log | tail -n 20; \
		exit $$status
	$(PYTEST) -q Tests/conformance

demo: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/demo.py $(DIST)/tunnel-dispatcher

bench: static
	@scripts/setup.sh python
	@$(VENV)/bin/python scripts/bench.py $(DIST)/tunnel-dispatcher

#!/usr/bin/env bash
# Fails unless $1 is a static, stripped ELF (no interpreter, no NEEDED libraries) within the
# size budget: the agent crosses the network on every first contact with a host.
set -euo pipefail
binary=$1
if readelf -l "$binary" | grep -q INTERP; then echo "$binary has an ELF interpreter" >&2; exit 1; fi
if readelf -d "$binary" 2>/dev/null | grep -q NEEDED; then echo "$binary needs shared libraries" >&2; exit 1; fi
if readelf -S "$binary" | grep -q '\.symtab'; then echo "$binary is not stripped" >&2; exit 1; fi
size=$(stat -c %s "$binary")
# 320 KiB: the i686 agent, the largest (32-bit x86 code for 64-bit arithmetic), is ~319 KiB.
budget=$((320 * 1024))
if [ "$size" -ge "$budget" ]; then echo "$binary is $size bytes, over the $budget-byte budget" >&2; exit 1; fi
echo "$binary: static, stripped, $size bytes (budget $budget)"

#!/usr/bin/env bash
# Fails unless $1 is a static, stripped x86_64 ELF: no interpreter, no NEEDED libraries.
set -euo pipefail
binary=$1
if readelf -l "$binary" | grep -q INTERP; then echo "$binary has an ELF interpreter" >&2; exit 1; fi
if readelf -d "$binary" 2>/dev/null | grep -q NEEDED; then echo "$binary needs shared libraries" >&2; exit 1; fi
if readelf -S "$binary" | grep -q '\.symtab'; then echo "$binary is not stripped" >&2; exit 1; fi
echo "$binary: static, stripped, $(stat -c %s "$binary") bytes"

#!/bin/sh
# Runs the aarch64 agent under qemu-user, for the tests (TUNNEL_AGENT=scripts/run-aarch64.sh).
exec qemu-aarch64-static "$(dirname "$0")/../dist/tunnel-dispatcher-aarch64" "$@"

#!/bin/sh
# Runs a foreign-architecture agent under qemu-user, for the tests: each run-<arch>.sh is a
# link to this script, so that TUNNEL_AGENT=scripts/run-armv7.sh names one program.
# The architecture is the link's own name; arguments are passed to the agent.
arch=${0##*/run-}
arch=${arch%.sh}
case $arch in
    aarch64) qemu=qemu-aarch64-static ;;
    armv7) qemu=qemu-arm-static ;;
    i686) qemu=qemu-i386-static ;;
    riscv64) qemu=qemu-riscv64-static ;;
    *) echo "run-qemu.sh: call it as run-<arch>.sh (aarch64, armv7, i686, riscv64)" >&2; exit 2 ;;
esac
exec "$qemu" "$(dirname "$0")/../dist/tunnel-dispatcher-$arch" "$@"

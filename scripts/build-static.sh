#!/usr/bin/env bash
# Builds the static agent: Embedded Swift, one module at a time, linked against musl's
# libc.a with lld. Usage: build-static.sh x86_64|aarch64  (output in dist/).
# x86_64 uses the host's musl-tools; aarch64 uses Debian's arm64 musl and libgcc, unpacked
# by `setup.sh aarch64` (the Embedded stdlib has no aarch64-linux target, so Swift compiles
# for aarch64-none-none-elf against musl's headers; the binary runs on any arm64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-x86_64}
swift_bin=$(dirname "$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)")
embedded_lib=$swift_bin/../lib/swift/embedded
build=.build-static/$arch
sysroot=$build/sysroot

case $arch in
    x86_64)
        scripts/setup.sh musl
        headers=/usr/include/x86_64-linux-musl
        libraries=/usr/lib/x86_64-linux-musl
        swift_target=x86_64-unknown-linux-gnu
        c_target=x86_64-unknown-linux-musl
        output=dist/tunnel-dispatcher
        swift_extra=()
        link_runtime=(-rtlib=compiler-rt)
        # The AVX2 SHA-512 kernel: its module alone is compiled for Haswell's level, and
        # TunnelHash calls it only once the CPU is checked (see SHA512Kernel.swift).
        cpu_modules=(TunnelHashAVX2)
        ;;
    aarch64)
        scripts/setup.sh aarch64
        root=$PWD/.build-static/aarch64-root
        headers=$root/usr/include/aarch64-linux-musl
        libraries=$root/usr/lib/aarch64-linux-musl
        swift_target=aarch64-none-none-elf
        c_target=aarch64-unknown-linux-musl
        output=dist/tunnel-dispatcher-aarch64
        # A bare-metal target does not look in the sysroot's usr/include by itself.
        swift_extra=(-Xcc -isystem -Xcc "$sysroot/usr/include" -Xcc -D__linux__)
        link_runtime=(-nostdlib "$sysroot/usr/lib/crt1.o" "$sysroot/usr/lib/crti.o"
                      "$sysroot/usr/lib/libc.a" "$root/usr/lib/gcc/aarch64-linux-gnu/12/libgcc.a"
                      "$sysroot/usr/lib/crtn.o")
        cpu_modules=()
        ;;
    *) echo "build-static.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac

# A musl "sysroot" of two links: -sdk for swiftc, --sysroot for clang.
mkdir -p "$sysroot/usr" dist
ln -sfn "$headers" "$sysroot/usr/include"
ln -sfn "$libraries" "$sysroot/usr/lib"

swift_flags=(-enable-experimental-feature Embedded -wmo -Osize -target "$swift_target" -sdk "$sysroot"
             "${swift_extra[@]}" -Xfrontend -function-sections -I "$build" -I Sources/CPosix/include)
run() { echo "$@" | cut -c1-160; "$@"; }

c_flags=(--target="$c_target" --sysroot="$sysroot" -Os -Wall -Werror -ffunction-sections -fdata-sections
         -DTUNNEL_EMBEDDED_MAIN -I Sources/CPosix/include)
run "$swift_bin/clang" "${c_flags[@]}" -c Sources/CPosix/tunnel_posix.c -o "$build/CPosix.o"
run "$swift_bin/clang" "${c_flags[@]}" -c Sources/CPosix/tunnel_sha512.c -o "$build/CPosixSHA512.o"
compile_module() {  # name, extra swiftc flags...
    local module=$1; shift
    mapfile -t sources < <(find Sources/$module -name '*.swift' | sort)
    run "$swift_bin/swiftc" "${swift_flags[@]}" "$@" -parse-as-library -module-name $module -emit-module \
        -emit-module-path "$build/$module.swiftmodule" -c "${sources[@]}" -o "$build/$module.o"
}
objects=("$build/CPosix.o" "$build/CPosixSHA512.o")
for module in "${cpu_modules[@]}"; do
    compile_module $module -target-cpu haswell
    objects+=("$build/$module.o")
done
# Every .swift file below the module's folder (TunnelAgent has one folder per role). The
# modules of tunnel-dispatcher in Package.swift, dependencies first, cpu_modules aside
# (Tests/conformance/test_protocol_as_data.py checks this list against the manifest).
swift_modules=(TunnelWire TunnelHash TunnelAgent)
for module in "${swift_modules[@]}"; do
    compile_module $module
    objects+=("$build/$module.o")
done
# Embedded Swift has no CommandLine: CPosix's C main keeps argv and calls this entry point.
link() {  # main.swift, output
    run "$swift_bin/swiftc" "${swift_flags[@]}" -module-name "$(basename "$2" | tr -- - _)" \
        -Xfrontend -entry-point-function-name -Xfrontend tunnel_swift_main -c "$1" -o "$build/main.o"
    run "$swift_bin/clang" --target="$c_target" --sysroot="$sysroot" -static -fuse-ld=lld \
        "${objects[@]}" "$build/main.o" \
        "$embedded_lib/$swift_target/libswiftUnicodeDataTables.a" "${link_runtime[@]}" \
        -Wl,--gc-sections,-s -o "$2"
}
link Sources/tunnel-dispatcher/main.swift "$output"
# The tests' SHA-512 helper (Tests/sha512-check), from the same objects, for qemu too.
link Tests/sha512-check/main.swift "$build/tunnel-sha512-check"
scripts/check-static.sh "$output"

#!/usr/bin/env bash
# Builds the static agent: Embedded Swift, one module at a time, linked against musl's
# libc.a with lld. Usage: build-static.sh x86_64|aarch64|armv7|i686|riscv64 (output in dist/).
# x86_64 uses the host's musl-tools; aarch64, armv7 and i686 use Debian's musl and libgcc for
# that machine, riscv64 a musl built by zig, each unpacked by `setup.sh ARCH` (the Embedded
# stdlib has no <arch>-linux target but x86_64's, so Swift compiles for the bare-metal target
# against musl's headers; the binary runs on any Linux of that machine). The choices per
# machine are in docs/static-build.md.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-x86_64}
swift_bin=$(dirname "$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)")
embedded_lib=$swift_bin/../lib/swift/embedded
build=.build-static/$arch
sysroot=$build/sysroot

unicode_tables=
c_only_flags=()  # i686 only: see there
# The Embedded stdlib's Unicode tables for riscv64 are built for the soft-float ABI (lp64),
# which lld refuses to link with musl's lp64d. They hold lookup tables and integer
# functions; the one function with a floating-point result, _swift_stdlib_getNumericValue
# (Unicode.Scalar.Properties.numericValue), is made local, so that a caller would fail to
# link instead of reading its result from the wrong register. Then each member's ELF
# header says lp64d (e_flags 0x1 -> 0x5: RVC plus EF_RISCV_FLOAT_ABI_DOUBLE).
lp64d_unicode_tables() {
    local work=$build/unicode-tables member
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && "$swift_bin/llvm-ar" x "$embedded_lib/riscv64-none-none-eabi/libswiftUnicodeDataTables.a")
    for member in "$work"/*.o; do
        [ "$(od -An -tx1 -j48 -N1 "$member" | tr -d ' ')" = 01 ] ||
            { echo "build-static.sh: unexpected ELF flags in $member" >&2; exit 1; }
        "$swift_bin/llvm-objcopy" --localize-symbol=_swift_stdlib_getNumericValue "$member"
        printf '\x05' | dd of="$member" bs=1 seek=48 conv=notrunc status=none
    done
    "$swift_bin/llvm-ar" rcsD "$build/libswiftUnicodeDataTables.a" $(cd "$work" && ls -- *.o | sed "s|^|$work/|")
    echo "$build/libswiftUnicodeDataTables.a"
}

case $arch in
    x86_64)
        scripts/setup.sh musl
        headers=/usr/include/x86_64-linux-musl
        libraries=/usr/lib/x86_64-linux-musl
        swift_target=x86_64-unknown-linux-gnu
        c_target=x86_64-unknown-linux-musl
        output=dist/tunnel-dispatcher
        swift_extra=()
        cpu_flags=()
        link_runtime=(-rtlib=compiler-rt)
        # The AVX2 SHA-512 kernel: its module alone is compiled for Haswell's level, and
        # TunnelHash calls it only once the CPU is checked (see SHA512Kernel.swift).
        cpu_modules=(TunnelHashAVX2)
        ;;
    aarch64|armv7|i686)
        # Debian's musl for that architecture (setup.sh); Swift compiles for the bare-metal
        # target of the same CPU (the Embedded stdlib has no <arch>-linux module) against
        # musl's headers, and clang links it as a Linux musl program.
        scripts/setup.sh $arch
        root=$PWD/.build-static/$arch-root
        case $arch in
            aarch64) multiarch=aarch64-linux-musl gcc=aarch64-linux-gnu
                     swift_target=aarch64-none-none-elf c_target=aarch64-unknown-linux-musl
                     cpu_flags=() ;;
            # ARMv7 hard-float as Debian's armhf: the bare-metal triple defaults to the
            # soft-float calling convention, which musl's armhf libc.a does not speak, and
            # to NEON, which not every ARMv7 has (VFPv3-D16 is armhf's baseline). Thumb-2
            # code is a third smaller than ARM code.
            armv7)   multiarch=arm-linux-musleabihf gcc=arm-linux-gnueabihf
                     swift_target=armv7-none-none-eabi c_target=armv7-unknown-linux-musleabihf
                     cpu_flags=(-mfloat-abi=hard -mfpu=vfpv3-d16 -mthumb) ;;
            i686)    multiarch=i386-linux-musl gcc=i686-linux-gnu
                     swift_target=i686-unknown-none-elf c_target=i686-unknown-linux-musl
                     # The bare-metal Swift target keeps the stack 4-byte aligned, so C
                     # compiled for clang's default pentium4 faults on its aligned SSE
                     # spills (movaps) when Swift calls it: the C shim is built for the i686
                     # baseline (Debian's i386, as its musl), which has no SSE.
                     cpu_flags=()
                     c_only_flags=(-march=i686) ;;
        esac
        headers=$root/usr/include/$multiarch
        libraries=$root/usr/lib/$multiarch
        output=dist/tunnel-dispatcher-$arch
        # A bare-metal target does not look in the sysroot's usr/include by itself.
        swift_extra=(-Xcc -isystem -Xcc "$sysroot/usr/include" -Xcc -D__linux__)
        # swiftc takes the CPU and ABI from its Clang importer's options.
        for flag in "${cpu_flags[@]}"; do swift_extra+=(-Xcc "$flag"); done
        link_runtime=(-nostdlib "$sysroot/usr/lib/crt1.o" "$sysroot/usr/lib/crti.o"
                      "$sysroot/usr/lib/libc.a" "$root/usr/lib/gcc/$gcc/12/libgcc.a"
                      "$sysroot/usr/lib/crtn.o")
        cpu_modules=()
        ;;
    riscv64)
        # musl 1.2.5 built by zig (setup.sh riscv64: Debian 12 has no riscv64 musl), with
        # zig's compiler-rt and libzigc.a (libc functions that zig writes in Zig); musl has no
        # crti/crtn on riscv64. rv64gc with the lp64d ABI, as every riscv64 Linux distribution.
        scripts/setup.sh riscv64
        root=$PWD/.build-static/riscv64-root
        headers=$root/usr/include/riscv64-linux-musl
        libraries=$root/usr/lib/riscv64-linux-musl
        swift_target=riscv64-none-none-eabi
        c_target=riscv64-unknown-linux-musl
        output=dist/tunnel-dispatcher-riscv64
        cpu_flags=(-march=rv64gc -mabi=lp64d)
        swift_extra=(-Xcc -isystem -Xcc "$sysroot/usr/include" -Xcc -D__linux__)
        for flag in "${cpu_flags[@]}"; do swift_extra+=(-Xcc "$flag"); done
        link_runtime=(-nostdlib "$sysroot/usr/lib/crt1.o" -Wl,--start-group "$sysroot/usr/lib/libc.a"
                      "$sysroot/usr/lib/libzigc.a" "$sysroot/usr/lib/libcompiler_rt.a" -Wl,--end-group)
        cpu_modules=()
        unicode_tables=$(lp64d_unicode_tables)
        ;;
    *) echo "build-static.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac

# A musl "sysroot" of two links: -sdk for swiftc, --sysroot for clang.
mkdir -p "$sysroot/usr" dist
ln -sfn "$headers" "$sysroot/usr/include"
ln -sfn "$libraries" "$sysroot/usr/lib"

# Each Swift module is LLVM bitcode (-lto=llvm-full), which lld optimises and compiles as one
# program at link time: code that no caller reaches in the whole agent goes, generic code is
# specialised once, and, as lld links a static program, the code is not position-independent
# (swiftc alone always makes PIC, which on i686 costs a GOT register set up in every function).
swift_flags=(-enable-experimental-feature Embedded -wmo -Osize -lto=llvm-full -target "$swift_target" -sdk "$sysroot"
             "${swift_extra[@]}" -Xfrontend -function-sections -I "$build" -I Sources/CPosix/include)
run() { echo "$@" | cut -c1-160; "$@"; }

c_flags=(--target="$c_target" --sysroot="$sysroot" "${cpu_flags[@]}" "${c_only_flags[@]}" -Os -Wall -Werror -ffunction-sections -fdata-sections
         -fno-asynchronous-unwind-tables         -DTUNNEL_EMBEDDED_MAIN -I Sources/CPosix/include)
run "$swift_bin/clang" "${c_flags[@]}" -c Sources/CPosix/tunnel_posix.c -o "$build/CPosix.o"
run "$swift_bin/clang" "${c_flags[@]}" -c Sources/CPosix/tunnel_sha512.c -o "$build/CPosixSHA512.o"
run "$swift_bin/clang" "${c_flags[@]}" -c Sources/CPosix/tunnel_bridge_retain.c -o "$build/CPosixBridgeRetain.o"
compile_module() {  # name, extra swiftc flags...
    local module=$1; shift
    mapfile -t sources < <(find Sources/$module -name '*.swift' | sort)
    run "$swift_bin/swiftc" "${swift_flags[@]}" "$@" -parse-as-library -module-name $module -emit-module \
        -emit-module-path "$build/$module.swiftmodule" -c "${sources[@]}" -o "$build/$module.o"
}
objects=("$build/CPosix.o" "$build/CPosixSHA512.o" "$build/CPosixBridgeRetain.o")
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
        "${unicode_tables:-$embedded_lib/$swift_target/libswiftUnicodeDataTables.a}" "${link_runtime[@]}" \
        -Wl,--wrap=swift_bridgeObjectRetain,--wrap=swift_bridgeObjectRetain_n \
        -Wl,--gc-sections,--icf=safe,-s -o "$2"
}
link Sources/tunnel-dispatcher/main.swift "$output"
# The tests' SHA-512 helper (Tests/sha512-check), from the same objects, for qemu too.
link Tests/sha512-check/main.swift "$build/tunnel-sha512-check"
scripts/check-static.sh "$output"

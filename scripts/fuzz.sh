#!/usr/bin/env bash
# Builds the libFuzzer targets (a normal glibc build of the agent's sources with
# -sanitize=fuzzer,address) and runs each for FUZZ_SECONDS (default 60).
#   fuzz.sh            build and run all three: decoder, session, parsers
#   fuzz.sh decoder    one of them
# Corpora: Tests/Fuzz/corpus/<target> (committed seeds) plus .build-fuzz/corpus/<target>
# (what a run adds). Dictionary: Tests/Fuzz/tunnel.dict. A crash leaves crash-* in
# .build-fuzz/ and makes this script fail; it then belongs in a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
swift_bin=$(dirname "$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)")
build=.build-fuzz
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decoder session parsers)
mkdir -p "$build"

sanitize=(-sanitize=fuzzer,address)
swift_flags=(-O -g -parse-as-library -enable-testing "${sanitize[@]}" -I Sources/CPosix/include -I "$build")
sources() { find "Sources/$1" -name '*.swift' | sort; }
if [ ! -f "$build/.built" ] || [ -n "$(find Sources Tests/Fuzz scripts/fuzz.sh -newer "$build/.built" -print -quit)" ]; then
    for file in tunnel_posix tunnel_sha512; do
        "$swift_bin/clang" -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/CPosix/include \
            -c Sources/CPosix/$file.c -o "$build/$file.o"
    done
    # The agent's modules in Package.swift, dependencies first (checked against the manifest
    # by Tests/conformance/test_protocol_as_data.py).
    swift_modules=(TunnelHashAVX2 TunnelWire TunnelHash TunnelAgent)
    objects=("$build/tunnel_posix.o" "$build/tunnel_sha512.o")
    for module in "${swift_modules[@]}"; do
        objects+=("$build/$module.o")
        mapfile -t files < <(sources $module)
        cpu=()
        [ $module != TunnelHashAVX2 ] || cpu=(-target-cpu haswell)
        "$swift_bin/swiftc" "${swift_flags[@]}" "${cpu[@]}" -wmo -module-name $module -emit-module \
            -emit-module-path "$build/$module.swiftmodule" -c "${files[@]}" -o "$build/$module.o"
    done
    for target in decoder session parsers; do
        name=Fuzz${target^}
        "$swift_bin/swiftc" "${swift_flags[@]}" -module-name $name -c "Tests/Fuzz/$name.swift" -o "$build/$name.o"
        "$swift_bin/swiftc" "${sanitize[@]}" -use-ld=lld "${objects[@]}" "$build/$name.o" -o "$build/fuzz-$target"
    done
    touch "$build/.built"
fi

# The session target runs chrooted in a small tmpfs of its own (see FuzzSession.swift). It
# chroots before libFuzzer opens its corpus, so the corpus and artifacts live in the tmpfs
# under one absolute path that means the same inside: there, that path is a link to "/".
prepare_root() {
    local root=$PWD/$build/root
    if ! mountpoint -q "$root" 2>/dev/null; then
        mkdir -p "$root"
        mount -t tmpfs -o size=64m,nr_inodes=20000 tunnel-fuzz "$root"
        echo yes > "$build/.mounted-here-$$"
    fi
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/scratch" "$root/corpus" "$root/seeds" "$root/artifacts"
    mkdir -p "$root$(dirname "$root")"
    ln -sfn / "$root$root"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\n' > "$root/etc/group"
    printf 'alice:$6$abc$def:19000:0:99999:7:::\n' > "$root/etc/shadow"
    if [ -x /bin/busybox ]; then
        cp /bin/busybox "$root/bin/busybox"
        for program in cat echo true false; do ln -sf busybox "$root/bin/$program"; done
    fi
    echo "$root"
}

# The session target's tmpfs goes when this script ends, however it ends; only if this run
# mounted it (another run may still be fuzzing in it).
trap '[ -f "$build/.mounted-here-$$" ] && rm -f "$build/.mounted-here-$$" && umount -l "$PWD/$build/root"' EXIT

status=0
for target in "${targets[@]}"; do
    corpus=$PWD/$build/corpus/$target
    seeds=$PWD/Tests/Fuzz/corpus/$target
    artifacts=$PWD/$build/
    dictionary=$PWD/Tests/Fuzz/tunnel.dict
    mkdir -p "$corpus"
    env=()
    if [ "$target" = session ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "fuzz.sh: the session target chroots into a tmpfs, which needs root; skipped" >&2
            continue
        fi
        root=$(prepare_root)
        cp -r "$corpus/." "$root/corpus/"
        cp -r "$seeds/." "$root/seeds/"
        cp "$dictionary" "$root/tunnel.dict"
        env=(TUNNEL_FUZZ_ROOT="$root")
        corpus=$root/corpus seeds=$root/seeds artifacts=$root/artifacts/ dictionary=$root/tunnel.dict
    fi
    echo "fuzzing $target for ${seconds}s"
    if ! env "${env[@]}" ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=64 "$build/fuzz-$target" -max_total_time="$seconds" \
        -dict="$dictionary" -rss_limit_mb=1024 -close_fd_mask=2 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts" "$corpus" "$seeds" > "$build/$target.log" 2>&1; then
        status=1
        echo "fuzz.sh: $target found a problem; see $build/$target.log" >&2
        tail -n 40 "$build/$target.log" >&2
    fi
    if [ "$target" = session ]; then
        cp -r "$root/corpus/." "$build/corpus/session/"
        cp "$root"/artifacts/* "$build/" 2>/dev/null || true
    fi
    grep -a -E "stat::number_of_executed_units|cov: " "$build/$target.log" | tail -n 2 | sed "s/^/  /"
done
exit $status

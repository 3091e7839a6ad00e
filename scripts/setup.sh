#!/usr/bin/env bash
# Installs what the build and the tests need, once; says what to run when it cannot.
#   setup.sh musl     musl-tools (headers and libc.a for the static build)
#   setup.sh python   .venv with fora==2.1.7 and pytest (the reference and the test runner)
#   setup.sh aarch64  arm64 musl and libgcc unpacked into .build-static/aarch64-root, and
#                     qemu-user-static to run the result; armv7 and i686 likewise (Debian's
#                     armhf and i386 packages)
#   setup.sh riscv64  musl for riscv64 built by the pinned ziglang wheel (see riscv64_root)
#   setup.sh test     everything the tests use (adds openssh-server, acl for getfacl/setfacl,
#                     strace to count an upload's sync calls, busybox-static for the
#                     session fuzzer's confined root and the bootstrap's chroot; sudo, tcsh,
#                     podman and runc for the launch tests; fora's sdist for its own tests, and
#                     python-is-python3, as fora's own ssh connector runs `python` on the host)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    local missing=()
    for package in "$@"; do
        # Installed, not merely known: a removed package keeps a "config-files" entry.
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    }
}

python_env() {
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import fora, pytest, pytest_timeout' 2>/dev/null; then
        echo "creating .venv with fora==2.1.7, pytest and pytest-timeout" >&2
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check 'fora==2.1.7' pytest pytest-timeout
    fi
}

# fora's own tests (its sdist), which test_fora_connector.py runs through the tunnel-ssh connector.
fora_sdist() {
    [ -f .build/fora-2.1.7/test/test_connection.py ] && return 0
    python_env
    local download
    download=$(mktemp -d)
    .venv/bin/pip download -q --disable-pip-version-check --no-deps --no-binary :all: 'fora==2.1.7' -d "$download"
    mkdir -p .build
    tar -C .build -xzf "$download"/fora-2.1.7.tar.gz
    rm -rf "$download"
}

# A foreign architecture's musl and libgcc (for the compiler-rt builtins), from Debian's own
# packages, unpacked into .build-static/<arch>-root; qemu-user-static runs the result.
#   debian_root ARCH DEBIAN_ARCH
debian_root() {
    local arch=$1 debian_arch=$2 root=.build-static/$1-root added=
    [ -f "$root/.ready" ] && return 0
    apt_install qemu-user-static
    if ! dpkg --print-foreign-architectures | grep -qx "$debian_arch"; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "run: sudo dpkg --add-architecture $debian_arch && sudo apt-get update" >&2
            exit 1
        fi
        # Only for the download, and taken back after it: left in place, every later
        # apt-get update on this machine would fetch its indexes too, and fail whenever a
        # mirror lags for that architecture. A lagging index here is not fatal.
        dpkg --add-architecture "$debian_arch"
        added=yes
        apt-get update -qq >/dev/null 2>&1 || true
    fi
    local download packages=(musl-dev:$debian_arch musl:$debian_arch libgcc-12-dev:$debian_arch)
    download=$(mktemp -d)
    (cd "$download" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}" ||
        { apt-get update -qq >/dev/null; apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}"; })
    [ -z "$added" ] || dpkg --remove-architecture "$debian_arch"
    mkdir -p "$root"
    for package in "$download"/*.deb; do dpkg -x "$package" "$root"; done
    rm -rf "$download"
    touch "$root/.ready"
}

# riscv64: Debian 12 has no musl for it, so musl 1.2.5 comes from the sources that the
# ziglang wheel bundles (PyPI, pinned by version and hash below: the same wheel builds the
# same libc.a, byte for byte). zig builds libc.a, its libzigc.a (the string and math
# functions that zig writes in Zig), compiler-rt and crt1.o for riscv64-linux-musl
# (rv64gc, lp64d) at ReleaseSmall while it links a trivial program; --verbose-link names
# them, and they are copied, with the headers merged as zig layers them, into
# .build-static/riscv64-root. The wheel is for x86_64 build hosts. Takes a few minutes, once.
ZIGLANG=ziglang==0.17.0
ZIGLANG_SHA256=97079827064a7492cce5541ceb438ae8003ce1e54e399676da2d62fb7a5dc08b
riscv64_root() {
    local root=.build-static/riscv64-root
    [ -f "$root/.ready" ] && return 0
    apt_install qemu-user-static unzip
    local work
    work=$(mktemp -d)
    echo "$ZIGLANG --hash=sha256:$ZIGLANG_SHA256" > "$work/requirements.txt"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
        --require-hashes -r "$work/requirements.txt" -d "$work/wheel"
    unzip -q "$work"/wheel/ziglang-*.whl -d "$work/zig"
    local zig=$work/zig/ziglang/zig include=$work/zig/ziglang/lib/libc/include
    printf 'int main(void) { return 0; }\n' > "$work/empty.c"
    echo "building musl for riscv64 with $ZIGLANG (a few minutes)" >&2
    (cd "$work" && ZIG_GLOBAL_CACHE_DIR=$work/cache ZIG_LOCAL_CACHE_DIR=$work/local-cache \
        "$zig" build-exe empty.c -lc -target riscv64-linux-musl -OReleaseSmall -fstrip --verbose-link \
        > link.txt 2>&1) || { cat "$work/link.txt" >&2; exit 1; }
    local lib=$root/usr/lib/riscv64-linux-musl headers=$root/usr/include/riscv64-linux-musl
    rm -rf "$root" && mkdir -p "$lib" "$headers"
    local name
    for name in crt1.o libc.a libzigc.a libcompiler_rt.a; do
        local built
        built=$(tr ' ' '\n' < "$work/link.txt" | grep "/$name\$" | tail -n 1)
        case $built in /*) ;; *) built=$work/$built ;; esac  # zig names them relative to $work
        [ -f "$built" ] || { echo "setup.sh: zig did not build $name" >&2; cat "$work/link.txt" >&2; exit 1; }
        cp "$built" "$lib/$name"
    done
    # zig's include order, most specific first: copied from the least specific up.
    for name in any-linux-any riscv-linux-any generic-musl riscv64-linux-musl; do
        cp -r "$include/$name/." "$headers/"
    done
    rm -rf "$work"
    touch "$root/.ready"
}

for what in "$@"; do
    case "$what" in
        musl) apt_install musl-tools ;;
        python) python_env ;;
        aarch64) debian_root aarch64 arm64 ;;
        armv7) debian_root armv7 armhf ;;
        i686) debian_root i686 i386 ;;
        riscv64) riscv64_root ;;
        test) apt_install musl-tools openssh-server acl strace busybox-static sudo tcsh podman runc python-is-python3 rsync
              debian_root aarch64 arm64; debian_root armv7 armhf; debian_root i686 i386; riscv64_root
              python_env; fora_sdist ;;
        *) echo "setup.sh: unknown part '$what'" >&2; exit 2 ;;
    esac
done

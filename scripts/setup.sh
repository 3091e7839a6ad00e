#!/usr/bin/env bash
# Installs what the build and the tests need, once; says what to run when it cannot.
#   setup.sh musl     musl-tools (headers and libc.a for the static build)
#   setup.sh python   .venv with fora==2.1.7 and pytest (the reference and the test runner)
#   setup.sh aarch64  arm64 musl and libgcc unpacked into .build-static/aarch64-root, and
#                     qemu-user-static to run the result
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

aarch64_root() {
    local root=.build-static/aarch64-root
    [ -f "$root/.ready" ] && return 0
    apt_install qemu-user-static
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "run: sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
            exit 1
        fi
        dpkg --add-architecture arm64
        apt-get update -qq >/dev/null
    fi
    local download
    download=$(mktemp -d)
    (cd "$download" && apt-get download -qq -o APT::Sandbox::User=root musl-dev:arm64 musl:arm64 libgcc-12-dev:arm64 ||
        { apt-get update -qq >/dev/null && apt-get download -qq -o APT::Sandbox::User=root musl-dev:arm64 musl:arm64 libgcc-12-dev:arm64; })
    mkdir -p "$root"
    for package in "$download"/*.deb; do dpkg -x "$package" "$root"; done
    rm -rf "$download"
    touch "$root/.ready"
}

for what in "$@"; do
    case "$what" in
        musl) apt_install musl-tools ;;
        python) python_env ;;
        aarch64) aarch64_root ;;
        test) apt_install musl-tools openssh-server acl strace busybox-static sudo tcsh podman runc python-is-python3 rsync; aarch64_root; python_env; fora_sdist ;;
        *) echo "setup.sh: unknown part '$what'" >&2; exit 2 ;;
    esac
done

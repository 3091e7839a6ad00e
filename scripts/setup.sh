#!/usr/bin/env bash
# Installs what the build and the tests need, once; says what to run when it cannot.
#   setup.sh musl     musl-tools (headers and libc.a for the static build)
#   setup.sh python   .venv with fora==2.1.7 and pytest (the reference and the test runner)
#   setup.sh test     also what the end-to-end tests use (openssh-server, busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
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
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import fora, pytest' 2>/dev/null; then
        echo "creating .venv with fora==2.1.7 and pytest" >&2
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check 'fora==2.1.7' pytest
    fi
}

for what in "$@"; do
    case "$what" in
        musl) apt_install musl-tools ;;
        python) python_env ;;
        test) apt_install musl-tools openssh-server busybox-static; python_env ;;
        *) echo "setup.sh: unknown part '$what'" >&2; exit 2 ;;
    esac
done

"""Every SHA-512 kernel against hashlib: the NIST vectors, every length 0-1000 with every
split point, and a large input, for each kernel this machine can run natively, for both
aarch64 kernels under qemu-user (`-cpu max` has the SHA-512 instructions, `-cpu cortex-a53`
does not), and for the portable kernel of the armv7, i686 and riscv64 agents under qemu-user
(the only one they have: 32-bit machines do the 64-bit rounds in register pairs). The helper, tunnel-sha512-check, is built by scripts/build-static.sh from the
agent's own objects; it names the kernel it ran on its first line, so that no kernel is
skipped silently."""
import hashlib
import os
import shutil
import subprocess

import pytest

from harness import ROOT, agent_command

FOREIGN = {"aarch64": "qemu-aarch64-static", "armv7": "qemu-arm-static", "i686": "qemu-i386-static",
           "riscv64": "qemu-riscv64-static"}
HELPER = {arch: ROOT / ".build-static" / arch / "tunnel-sha512-check" for arch in ("x86_64", *FOREIGN)}
AGENT = {arch: ROOT / "dist" / f"tunnel-dispatcher-{arch}" for arch in FOREIGN}
AARCH64_CPUS = ("max", "cortex-a53")

NIST = {  # FIPS 180-4 examples (csrc.nist.gov), and the classic million 'a'
    b"abc": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    b"": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
         "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
    b"mnopqrstnopqrstu": "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    b"a" * 1_000_000: "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                      "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
}


def cpu_flags():
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


HASWELL_FLAGS = {"avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "movbe", "abm", "popcnt", "sse4_2", "ssse3"}
NATIVE_AVX2 = os.uname().machine == "x86_64" and HASWELL_FLAGS <= cpu_flags()


def runner(target):
    """(command prefix, helper) for a target: native, aarch64 under qemu with a CPU, or
    another machine under its qemu."""
    if target == "native":
        return [], HELPER["x86_64"]
    arch = "aarch64" if target in AARCH64_CPUS else target
    qemu = shutil.which(FOREIGN[arch])
    if qemu is None:
        pytest.skip(f"{FOREIGN[arch]} is not installed (scripts/setup.sh test installs it)")
    return [qemu, *(["-cpu", target] if arch == "aarch64" else [])], HELPER[arch]


# (target, kernel asked for, kernel that must run)
CASES = [("native", "portable", "portable"),
         ("native", "best", "avx2" if NATIVE_AVX2 else "portable"),
         ("max", "best", "armv8-sha512"),
         ("max", "portable", "portable"),
         ("cortex-a53", "best", "portable"),
         *[(arch, kernel, "portable") for arch in ("armv7", "i686", "riscv64") for kernel in ("best", "portable")]]


def check(target, kernel, *args, data):
    prefix, helper = runner(target)
    if not helper.exists():
        pytest.fail(f"{helper} is missing: run `make static arches`")
    result = subprocess.run([*prefix, str(helper), kernel, *args], input=data, capture_output=True, timeout=300)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, (result.returncode, lines[-1:], result.stderr[-300:])
    return lines[0].removeprefix("kernel: "), lines[1:]


@pytest.mark.parametrize("target,kernel,expected", CASES)
def test_every_length_and_every_split_against_hashlib(target, kernel, expected):
    data = os.urandom(1000)
    ran, digests = check(target, kernel, "prefixes", data=data)
    assert ran == expected
    assert digests == [hashlib.sha512(data[:length]).hexdigest() for length in range(len(data) + 1)]


@pytest.mark.parametrize("target,kernel,expected", CASES)
def test_nist_vectors_and_a_large_input(target, kernel, expected):
    for message, digest in NIST.items():
        assert check(target, kernel, "whole", data=message) == (expected, [digest])
    large = os.urandom(3 << 20) + b"tail"  # blocks in odd and even runs, and a partial one
    assert check(target, kernel, "whole", data=large) == (expected, [hashlib.sha512(large).hexdigest()])


def test_a_kernel_the_cpu_lacks_is_refused():
    prefix, helper = runner("cortex-a53")
    result = subprocess.run([*prefix, str(helper), "armv8-sha512", "whole"], input=b"", capture_output=True)
    assert result.returncode == 2 and b"usage" in result.stdout


def debug_first_line(command, environment=None):
    result = subprocess.run(command, input=b"", capture_output=True, timeout=60,
                            env=dict(os.environ, **(environment or {})))
    assert result.returncode == 0
    return result.stderr.split(b"\n", 1)[0].decode()


def test_debug_names_the_kernel_in_use():
    native = "avx2" if NATIVE_AVX2 else "portable"
    assert debug_first_line(agent_command("--debug")).endswith(f"SHA-512: {native}")
    assert debug_first_line(agent_command("--debug"), {"TUNNEL_SHA512": "portable"}).endswith("SHA-512: portable")
    for target, kernel in [("max", "armv8-sha512"), ("cortex-a53", "portable"),
                           ("armv7", "portable"), ("i686", "portable"), ("riscv64", "portable")]:
        prefix, _ = runner(target)
        agent = AGENT["aarch64" if target in AARCH64_CPUS else target]
        assert debug_first_line([*prefix, str(agent), "--debug"]).endswith(f"SHA-512: {kernel}")

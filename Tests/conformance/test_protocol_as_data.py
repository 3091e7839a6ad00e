"""The protocol and the build as data (issue 21): one registry of packet ids, names and
directions (Sources/TunnelWire/PacketID.swift), and one module graph (Package.swift).
Everything else that lists them is generated from them or checked against them here."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import extensions as x
from harness import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from packet_registry import PACKETS  # noqa: E402  pylint: disable=wrong-import-position

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
GENERATORS = sorted(path.name for path in (ROOT / "scripts").glob("generate-*.py"))
DIRECTION_WORDS = {"request": "request", "requestWithoutAnswer": "request, no answer", "answer": "answer"}


@pytest.mark.parametrize("generator", GENERATORS)
def test_every_generated_file_is_current(generator):
    result = subprocess.run([PYTHON, str(ROOT / "scripts" / generator), "--check"], capture_output=True, text=True,
                            cwd="/tmp", timeout=300)
    assert result.returncode == 0, result.stderr


def test_a_stale_output_is_found(tmp_path):
    """--check must be able to fail."""
    stale = tmp_path / "extensions.txt"
    stale.write_text("hello 00\n")
    result = subprocess.run([PYTHON, str(ROOT / "scripts" / "generate-golden-extensions.py"), "--check", str(stale)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "stale" in result.stderr
    assert stale.read_text() == "hello 00\n"


def test_the_registry_has_every_id_once():
    ids = [packet.id for packet in PACKETS]
    assert ids == sorted(set(ids)) and ids[:23] == list(range(23))
    assert len({packet.name for packet in PACKETS}) == len(PACKETS)


def test_protocol_md_lists_the_registry():
    rows = re.findall(r"^\| (\d+) \| (\w+) \| ([a-z, ]+) \|", (ROOT / "docs" / "protocol.md").read_text(), re.MULTILINE)
    documented = [(int(number), name, direction) for number, name, direction in rows]
    expected = [(p.id, p.name.removeprefix("Packet"), DIRECTION_WORDS[p.direction]) for p in PACKETS]
    assert documented == expected


def test_the_python_codec_uses_the_registrys_ids():
    constants = {name: value for name, value in vars(x).items() if name.isupper() and isinstance(value, int)}
    by_case = {re.sub(r"(?<!^)(?=[A-Z])", "_", p.case).upper(): p.id for p in PACKETS if p.id >= x.HELLO}
    assert {name: constants.get(name) for name in by_case} == by_case
    for name, value in (("OK", "ok"), ("OS_ERROR", "osError"), ("INVALID_FIELD", "invalidField"),
                        ("PROCESS_ERROR", "processError"), ("STAT_RESULT", "statResult")):
        assert constants[name] == next(p.id for p in PACKETS if p.case == value)


# --- The module graph ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifest():
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    if not os.path.exists(swift):
        pytest.skip("needs the Swift toolchain to read Package.swift")
    dump = subprocess.run([swift, "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    targets = {}
    for target in json.loads(dump.stdout)["targets"]:
        targets[target["name"]] = [next(iter(dependency.values()))[0] for dependency in target["dependencies"]]
    return targets


def closure(targets, root):
    """`root` and what it depends on, within the package."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in targets and name not in seen:
            seen.add(name)
            todo.extend(targets[name])
    return seen


def assert_dependency_order(targets, modules):
    for index, module in enumerate(modules):
        assert set(targets[module]) - {"CPosix"} <= set(modules[:index]), f"{module} comes before its dependencies"


def shell_array(script, name):
    match = re.search(rf"^\s*{name}=\(([^)]*)\)", (ROOT / "scripts" / script).read_text(), re.MULTILINE)
    assert match, f"{script} has no {name}=(...)"
    return match.group(1).split()


def test_the_static_build_compiles_the_manifests_agent_modules(manifest):
    agent = closure(manifest, "tunnel-dispatcher") - {"tunnel-dispatcher", "CPosix"}
    modules = shell_array("build-static.sh", "cpu_modules") + shell_array("build-static.sh", "swift_modules")
    assert sorted(modules) == sorted(agent)
    assert_dependency_order(manifest, modules)


def test_the_fuzz_build_compiles_the_manifests_agent_modules(manifest):
    agent = closure(manifest, "tunnel-dispatcher") - {"tunnel-dispatcher", "CPosix"}
    modules = shell_array("fuzz.sh", "swift_modules")
    assert sorted(modules) == sorted(agent)
    assert_dependency_order(manifest, modules)


def test_the_makefile_rebuilds_on_every_source_of_each_product(manifest):
    makefile = (ROOT / "Makefile").read_text()

    def folders(variable):
        definition = re.search(rf"^{variable} :=((?:.*\\\n)*.*)$", makefile, re.MULTILINE).group(1)
        return set(re.findall(r"(?:Sources|Tests)/[\w-]+", definition))

    static = closure(manifest, "tunnel-dispatcher") | closure(manifest, "tunnel-sha512-check")
    assert folders("STATIC_INPUTS") >= {f"Sources/{module}" for module in static - {"tunnel-sha512-check"}}
    client = closure(manifest, "tunnel")
    assert folders("CLIENT_INPUTS") >= {f"Sources/{module}" for module in client}

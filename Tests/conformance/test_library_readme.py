"""The README's TunnelClient section (issue 23 item 13): its example compiles against the
library as it is, runs, writes only its own file under /tmp, removes it and ends; and a
program that finds no agent to send is told about TUNNEL_AGENT_DIR, with nothing started.

Compiled with swiftc against the modules and objects `make client` leaves in
.build/release (a second package build would cost minutes on this machine)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import ROOT

RELEASE = ROOT / ".build" / "release"
SWIFTC = shutil.which("swiftc") or "/opt/swift/usr/bin/swiftc"
LIBRARY_MODULES = ["TunnelClient", "TunnelWire", "TunnelHash", "TunnelHashAVX2", "CPosix", "CTunnelClient"]

pytestmark = [
    pytest.mark.skipif(not (RELEASE / "Modules" / "TunnelClient.swiftmodule").exists(),
                       reason="run `make client` first (it builds the library in .build/release)"),
    pytest.mark.skipif(not os.path.exists(SWIFTC), reason="needs the Swift toolchain (swiftc)"),
]


def build(program: str, folder: Path) -> Path:
    """`program` (top-level Swift code) compiled and linked against the built library."""
    (folder / "main.swift").write_text(program)
    objects = [str(path) for module in LIBRARY_MODULES for path in sorted((RELEASE / f"{module}.build").glob("*.o"))]
    result = subprocess.run(
        [SWIFTC, "-I", str(RELEASE / "Modules"),
         "-Xcc", f"-fmodule-map-file={RELEASE / 'CTunnelClient.build' / 'module.modulemap'}",
         "-Xcc", f"-fmodule-map-file={ROOT / 'Sources' / 'CPosix' / 'include' / 'module.modulemap'}",
         str(folder / "main.swift"), *objects, "-o", str(folder / "program")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return folder / "program"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    examples = [block for block in re.findall(r"```swift\n(.*?)```", readme, re.S) if "import TunnelClient" in block]
    assert len(examples) == 1, "the README has one TunnelClient example"
    return examples[0]


def test_the_readmes_library_example_runs_and_cleans_up(tmp_path):
    scratch = Path("/tmp/tunnel-client-example.txt")
    assert str(scratch) in readme_example(), "the example's scratch file moved: update this test"
    scratch.unlink(missing_ok=True)
    program = build(readme_example(), tmp_path)
    # From the checkout: the example names the agent as make builds it, dist/tunnel-dispatcher.
    result = subprocess.run([str(program)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("6\nhello\n"), result.stdout
    assert result.stdout.rstrip().endswith("finished(returncode: 0, timedOut: false)"), result.stdout
    assert not scratch.exists()


def test_a_program_without_agents_is_told_to_set_tunnel_agent_dir(tmp_path):
    """Nothing to send: a clear error before anything starts (no ssh is run)."""
    program = build('import TunnelClient\n'
                    'do {\n'
                    '    _ = try TunnelConnection(route: .ssh(destination: "web1", options: [], sudo: false))\n'
                    '} catch {\n'
                    '    print(error)\n'
                    '}\n', tmp_path)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    started = tmp_path / "ssh-was-started"
    (bin_folder / "ssh").write_text(f"#!/bin/sh\ntouch {started}\nexit 255\n")
    (bin_folder / "ssh").chmod(0o755)
    empty = tmp_path / "agents"
    empty.mkdir()
    env = dict(os.environ, PATH=f"{bin_folder}:{os.environ['PATH']}", TUNNEL_AGENT_DIR=str(empty))
    result = subprocess.run([str(program)], capture_output=True, text=True, env=env, timeout=60)
    assert "no agent to send" in result.stdout and "TUNNEL_AGENT_DIR" in result.stdout, result
    assert not started.exists()

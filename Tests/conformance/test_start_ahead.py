"""Issue 20, start latency: the client's first packets follow the bootstrap snippet's command
on its stdin, after a line with their byte count (bootstrap.sh, `ahead`). Where the snippet
must receive the agent first, it drops them before `send` (with `head -c`, or `dd` on a
target without head) and the client sends them again after `start`. Here ssh is a stand-in
that runs the snippet with the local sh, on a PATH that holds only the tools named."""
import os
import shutil
import subprocess

import pytest

from harness import AGENT
from test_cli import TUNNEL

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

STAND_IN = """#!/bin/sh
# ssh [options] -- HOST COMMAND: COMMAND, with the local sh
while [ "$1" != -- ]; do shift; done
exec /bin/sh -c "$3"
"""
TOOLS = ["sh", "uname", "ls", "mkdir", "chmod", "mv", "rm", "rmdir", "id", "mktemp", "sha256sum", "dd"]


def start(tmp_path, tools, *command):
    """`tunnel -v --ssh h run -- COMMAND` with a home of its own and only `tools` on PATH."""
    bin_folder = tmp_path / "bin"
    if not bin_folder.exists():
        bin_folder.mkdir()
        for tool in tools:
            (bin_folder / tool).symlink_to(shutil.which(tool))
        (bin_folder / "ssh").write_text(STAND_IN)
        (bin_folder / "ssh").chmod(0o755)
        (tmp_path / "home").mkdir()
    env = dict(os.environ, PATH=str(bin_folder), HOME=str(tmp_path / "home"),
               TUNNEL_AGENT_DIR=os.path.dirname(AGENT))
    env.pop("XDG_CACHE_HOME", None)
    return subprocess.run([str(TUNNEL), "-v", "--ssh", "h", "run", "--", *command], capture_output=True, env=env,
                          timeout=60)


@pytest.mark.parametrize("tools", [TOOLS + ["head"], TOOLS], ids=["head", "dd"])
def test_the_first_packets_survive_a_start_that_sends_the_agent(tmp_path, tools):
    first = start(tmp_path, tools, "/bin/echo", "first")
    assert (first.returncode, first.stdout) == (0, b"first\n"), first
    assert b"sending the " in first.stderr, first
    cached = start(tmp_path, tools, "/bin/echo", "cached")
    assert (cached.returncode, cached.stdout) == (0, b"cached\n"), cached
    assert b"starting the cached " in cached.stderr, cached
    folder = tmp_path / "home/.cache/tunnel-dispatcher"
    assert [entry.name for entry in folder.iterdir()] == [first.stderr.split(b"/")[-1].strip().decode()]

"""Which agent the bootstrap picks, by the machine's name (issues 20 and 25), for every machine
there is an agent for. A fake `ssh` on PATH runs the remote command with this machine's sh, in
a mount namespace of its own where /proc/sys/kernel/arch (read first, without a process) says
the machine, or is empty so that a fake `uname` says it (the fallback, as on kernels before
6.1); agents that cannot run here are stand-ins (a script that names its machine, then execs
the x86_64 agent), so that the whole start runs: `send`, the check, the rename into the
cache, `start`, and a ping through the agent. Root only: the namespace's bind mount."""
import hashlib
import os
import subprocess
import sys

import pytest

from harness import ROOT
from test_launch import AGENTS, TUNNEL

pytestmark = [pytest.mark.skipif(not TUNNEL.exists() or not AGENTS["x86_64"].exists(),
                                 reason="run `make static client` first"),
              pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/proc/sys/kernel/arch"),
                                 reason="needs root and Linux 6.1 or later: /proc/sys/kernel/arch is faked by a bind mount")]

MACHINES = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "aarch64": "aarch64", "arm64": "aarch64",
    "armv7l": "armv7", "armv8l": "armv7",
    "i386": "i686", "i486": "i686", "i586": "i686", "i686": "i686",
    "riscv64": "riscv64",
}

KERNEL_ARCH = "/proc/sys/kernel/arch"

FAKE_SSH = f"""#!/bin/sh
# ssh's stand-in: the remote command (its last argument) runs here, with $FAKE_ARCH_FILE
# in place of {KERNEL_ARCH}
for last; do :; done
exec unshare -m sh -c 'mount --bind "$1" {KERNEL_ARCH} && exec sh -c "$2"' sh "$FAKE_ARCH_FILE" "$last"
"""

# Where the snippet learns the machine: the file, or uname when the file says nothing.
SOURCES = ["kernel-arch", "uname"]


@pytest.fixture
def target(tmp_path):
    """Agents for every machine (the x86_64 one real), a fake ssh and uname on PATH, and a
    home of its own; `start(machine, agents)` runs `tunnel -v --ssh target ping`."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "tunnel-dispatcher").write_bytes(AGENTS["x86_64"].read_bytes())
    (agents / "tunnel-dispatcher").chmod(0o755)
    for architecture in ("aarch64", "armv7", "i686", "riscv64"):
        stand_in = agents / f"tunnel-dispatcher-{architecture}"
        stand_in.write_text(f"#!/bin/sh\necho {architecture} >> {tmp_path}/ran\nexec {agents}/tunnel-dispatcher \"$@\"\n")
        stand_in.chmod(0o755)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ssh").write_text(FAKE_SSH)
    (tools / "uname").write_text(f'#!/bin/sh\necho uname >> {tmp_path}/asked\necho "$FAKE_MACHINE"\n')
    for tool in ("ssh", "uname"):
        (tools / tool).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)

    def start(machine, agent_folder=agents, source="kernel-arch"):
        arch_file = tmp_path / "arch"
        arch_file.write_text(machine + "\n" if source == "kernel-arch" else "")
        environment = dict(os.environ, PATH=f"{tools}:{os.environ['PATH']}", FAKE_MACHINE=machine, HOME=str(home),
                           TUNNEL_AGENT_DIR=str(agent_folder), FAKE_ARCH_FILE=str(arch_file))
        environment.pop("XDG_CACHE_HOME", None)
        result = subprocess.run([str(TUNNEL), "-v", "--ssh", "target", "ping"], capture_output=True, env=environment,
                                timeout=60)
        ran = (tmp_path / "ran").read_text().split() if (tmp_path / "ran").exists() else []
        (tmp_path / "ran").unlink(missing_ok=True)
        start.asked = (tmp_path / "asked").read_text().split() if (tmp_path / "asked").exists() else []
        (tmp_path / "asked").unlink(missing_ok=True)
        return result, ran

    start.agents = agents
    start.cache = home / ".cache/tunnel-dispatcher"
    return start


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_the_agent_is_chosen_by_the_machine(target, machine, source):
    architecture = MACHINES[machine]
    name = "tunnel-dispatcher" if architecture == "x86_64" else f"tunnel-dispatcher-{architecture}"
    agent = target.agents / name
    result, ran = target(machine, source=source)
    assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr
    assert b"sending the %s agent (%d bytes" % (architecture.encode(), agent.stat().st_size) in result.stderr
    assert ran == ([] if architecture == "x86_64" else [architecture, architecture])   # --version, then the start
    digest = hashlib.sha256(agent.read_bytes()).hexdigest()
    assert os.listdir(target.cache) == [digest]
    again, ran = target(machine, source=source)
    assert again.returncode == 0 and b"starting the cached %s agent" % architecture.encode() in again.stderr, again.stderr
    # uname runs only when the kernel's file does not name the machine (a process less per start).
    assert target.asked == ([] if source == "kernel-arch" else ["uname"])


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("machine", ["armv6l", "armv5tel"])
def test_arm_before_v7_is_named_as_not_served(target, machine, source):
    result, _ = target(machine, source=source)
    assert result.returncode == 255
    assert b"no agent for this machine (uname -m: %s): 32-bit ARM older than ARMv7" % machine.encode() in result.stderr


@pytest.mark.parametrize("source", SOURCES)
def test_an_unknown_machine_is_named(target, source):
    result, _ = target("mips", source=source)
    assert result.returncode == 255
    assert b"no agent for this machine (uname -m: mips); tunnel has agents for x86_64, aarch64, armv7" in result.stderr


def test_a_machine_whose_agent_this_tunnel_lacks(target, tmp_path):
    """Only some agents built: the others' machines get a clear error, the rest work."""
    some = tmp_path / "some"
    some.mkdir()
    for name in ("tunnel-dispatcher", "tunnel-dispatcher-armv7"):
        os.link(target.agents / name, some / name)
    result, _ = target("riscv64", some)
    assert result.returncode == 255
    assert b"this tunnel has no riscv64 agent (it has: x86_64 armv7)" in result.stderr, result.stderr
    assert not target.cache.exists()
    assert target("armv7l", some)[0].returncode == 0


def manifest_line(path, digest):
    info = path.stat()
    return f"{digest} {info.st_size} {info.st_mtime_ns // 10**9}.{info.st_mtime_ns % 10**9:09d} {path.name}\n"


def test_the_agents_hashes_come_from_the_build_manifest(target, tmp_path):
    """agents.sha256 (make writes it) spares the client a hash of every agent at each start;
    it is believed only while size and time match, and what is sent is checked anyway."""
    folder = tmp_path / "manifested"
    folder.mkdir()
    agent = folder / "tunnel-dispatcher"
    os.link(target.agents / "tunnel-dispatcher", agent)
    wrong = "0" * 64
    (folder / "agents.sha256").write_text(manifest_line(agent, wrong))
    result, _ = target("x86_64", folder)
    assert result.returncode == 255
    assert b"changed while tunnel was starting" in result.stderr, result.stderr
    # The same line once the file has another time: not believed, the file is hashed.
    os.utime(agent, ns=(agent.stat().st_atime_ns, agent.stat().st_mtime_ns + 1))
    result, _ = target("x86_64", folder)
    assert result.returncode == 0, result.stderr
    # make's own manifest: the right hash.
    subprocess.run([str(ROOT / "scripts/write-agent-manifest.sh"), str(folder)], check=True)
    assert (folder / "agents.sha256").read_text() == manifest_line(agent, hashlib.sha256(agent.read_bytes()).hexdigest())

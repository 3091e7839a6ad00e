"""`tunnel installer` (issues 20 item 5 and 25): the POSIX sh script that writes the agent for
the machine it runs on. It picks the agent from `uname -m` (faked here), creates missing
folders, and never writes or chmods through a symlink planted at a name another user can
predict: the target itself, or the temporary name it used to have (`$target.partial.$$`)."""
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from harness import ROOT

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))
DIST = ROOT / "dist"
AGENTS = {"x86_64": DIST / "tunnel-dispatcher",
          **{arch: DIST / f"tunnel-dispatcher-{arch}" for arch in ("aarch64", "armv7", "i686", "riscv64")}}
SHELLS = [["dash"], ["bash"], ["busybox", "sh"]]

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def installer(*args):
    return subprocess.run([str(TUNNEL), "installer", *args], capture_output=True, timeout=120,
                          env=dict(os.environ, TUNNEL_AGENT_DIR=str(DIST)))


@pytest.fixture(scope="module")
def every_agent(tmp_path_factory):
    if not all(agent.exists() for agent in AGENTS.values()):
        pytest.skip("needs the agents: make static arches")
    made = installer()
    assert made.returncode == 0, made.stderr
    script = tmp_path_factory.mktemp("installer") / "install.sh"
    script.write_bytes(made.stdout)
    return script


def tools_folder(folder, uname_says, tools=("chmod", "mv", "rm", "mkdir")):
    """A PATH of busybox applets, with a `uname` that prints `uname_says` for -m."""
    folder.mkdir()
    for tool in tools:
        (folder / tool).symlink_to("/bin/busybox")
    (folder / "uname").write_text(f"#!/bin/sh\necho {uname_says}\n")
    (folder / "uname").chmod(0o755)
    return folder


def run_script(script, target, path, shell=("sh",), prelude=None):
    """Runs the script as `sh install.sh TARGET`; `prelude`, when given, is shell code that
    runs first in the same process, which the script then replaces (so `$$` is the
    script's own pid, as an attacker predicting it would see)."""
    command = [shutil.which(shell[0]), *shell[1:]]
    if prelude is not None:
        command += ["-c", f'{prelude}\nexec {" ".join(command)} "$1" "$2"', "prelude", str(script), str(target)]
    else:
        command += [str(script), str(target)]
    return subprocess.run(command, capture_output=True, timeout=300, env={"PATH": str(path)})


@pytest.mark.parametrize("machine,agent", [("x86_64", "x86_64"), ("aarch64", "aarch64"), ("armv7l", "armv7"),
                                           ("armv8l", "armv7"), ("i686", "i686"), ("i386", "i686"),
                                           ("riscv64", "riscv64")])
def test_uname_picks_the_agent(every_agent, tmp_path, machine, agent):
    path = tools_folder(tmp_path / "bin", machine)
    target = tmp_path / "agent"
    result = run_script(every_agent, target, path, shell=["dash"])
    assert (result.returncode, result.stdout) == (0, f"{target}\n".encode()), result.stderr
    assert target.read_bytes() == AGENTS[agent].read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert sorted(os.listdir(tmp_path)) == ["agent", "bin"]


@pytest.mark.parametrize("machine", ["armv6l", "armv5tel"])
def test_a_machine_without_an_agent_is_named(every_agent, tmp_path, machine):
    path = tools_folder(tmp_path / "bin", machine)
    result = run_script(every_agent, tmp_path / "agent", path)
    assert result.returncode == 1 and b"no agent for" in result.stderr, result.stderr
    assert machine.encode() in result.stderr, result.stderr
    assert not (tmp_path / "agent").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_symlink_planted_at_the_old_predictable_temporary_is_never_followed(every_agent, tmp_path, shell):
    """The script used to write `$target.partial.$$` and chmod it 755: a symlink planted there
    (the attacker knows the pid of the shell that runs the script) got the agent written
    through it, over any file the installing user can write."""
    path = tools_folder(tmp_path / "bin", "x86_64")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    victim.chmod(0o600)
    target = tmp_path / "agent"
    result = run_script(every_agent, target, path, shell=shell, prelude=f'/bin/ln -s {victim} "$2.partial.$$"')
    assert result.returncode == 0, result.stderr
    assert victim.read_bytes() == b"precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert target.read_bytes() == AGENTS["x86_64"].read_bytes()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_symlink_planted_at_the_target_is_replaced_never_followed(every_agent, tmp_path, shell):
    path = tools_folder(tmp_path / "bin", "x86_64")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    victim.chmod(0o600)
    folder = tmp_path / "folder"
    folder.mkdir()
    target = tmp_path / "agent"
    for pointee in (victim, folder, tmp_path / "missing"):   # a file, a folder, nothing yet
        target.symlink_to(pointee)
        result = run_script(every_agent, target, path, shell=shell)
        assert result.returncode == 0, result.stderr
        assert not target.is_symlink() and target.read_bytes() == AGENTS["x86_64"].read_bytes()
        target.unlink()
    assert victim.read_bytes() == b"precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert os.listdir(folder) == [] and not (tmp_path / "missing").exists()


def test_the_temporary_is_unpredictable_and_in_the_targets_folder(every_agent, tmp_path):
    """A `mv` that records its arguments: each run draws a fresh name beside the target."""
    path = tools_folder(tmp_path / "bin", "x86_64", tools=("chmod",))
    log = tmp_path / "mv.log"
    (path / "mv").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec /bin/busybox mv "$@"\n')
    (path / "mv").chmod(0o755)
    folder = tmp_path / "opt"
    folder.mkdir()
    for _ in range(2):
        assert run_script(every_agent, folder / "agent", path).returncode == 0
    names = [line.split()[-2] for line in log.read_text().splitlines()]
    assert len(names) == 2 and names[0] != names[1]
    for name in names:
        assert re.fullmatch(re.escape(str(folder)) + r"/\.tunnel-dispatcher\.[A-Za-z0-9]{12}", name), name
    assert os.listdir(folder) == ["agent"]


@pytest.mark.parametrize("shell", SHELLS)
def test_missing_parent_folders_are_created(every_agent, tmp_path, shell):
    """As /usr/local/bin on a busybox image. (busybox sh runs its own uname applet, not the
    fake one on PATH: this machine's own agent is written.)"""
    path = tools_folder(tmp_path / "bin", "x86_64")
    target = tmp_path / "usr/local/bin/tunnel-dispatcher"
    result = run_script(every_agent, target, path, shell=shell)
    assert (result.returncode, result.stdout) == (0, f"{target}\n".encode()), result.stderr
    assert target.read_bytes() == AGENTS["x86_64"].read_bytes()


def test_without_mv_only_a_new_target_is_written(every_agent, tmp_path):
    path = tools_folder(tmp_path / "bin", "x86_64", tools=("chmod",))
    target = tmp_path / "agent"
    assert run_script(every_agent, target, path).returncode == 0
    assert target.read_bytes() == AGENTS["x86_64"].read_bytes()
    again = run_script(every_agent, target, path)
    assert again.returncode == 1 and b"replacing it safely needs mv" in again.stderr
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere")
    dangling = run_script(every_agent, target, path)
    assert dangling.returncode == 1 and not (tmp_path / "elsewhere").exists()


def test_a_folder_as_target_is_refused(every_agent, tmp_path):
    path = tools_folder(tmp_path / "bin", "x86_64")
    result = run_script(every_agent, tmp_path, path)
    assert result.returncode == 1 and b"is a folder" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["bin"]


def test_arch_selects_one_or_several_agents():
    if not all(agent.exists() for agent in AGENTS.values()):
        pytest.skip("needs the agents: make static arches")
    carried = {}
    for args in (["--arch", "armv7"], ["--arch", "armv7,i686"], ["--arch", "i686", "--arch", "riscv64"], []):
        made = installer(*args)
        assert made.returncode == 0, made.stderr
        carried[" ".join(args)] = re.findall(rb"^write_(\w+)\(\) \{$", made.stdout, re.M)
    assert carried == {"--arch armv7": [b"armv7"], "--arch armv7,i686": [b"armv7", b"i686"],
                       "--arch i686 --arch riscv64": [b"i686", b"riscv64"],
                       "": [b"x86_64", b"aarch64", b"armv7", b"i686", b"riscv64"]}
    wrong = installer("--arch", "mips")
    assert wrong.returncode == 2 and b"--arch takes all or x86_64, aarch64, armv7, i686, riscv64, not 'mips'" in wrong.stderr


def test_an_agent_that_is_not_there_is_named(tmp_path):
    for arch in AGENTS:
        if AGENTS[arch].exists():
            (tmp_path / AGENTS[arch].name).symlink_to(AGENTS[arch])
    (tmp_path / "tunnel-dispatcher-i686").unlink(missing_ok=True)
    result = subprocess.run([str(TUNNEL), "installer", "--arch", "x86_64,i686"], capture_output=True,
                            env=dict(os.environ, TUNNEL_AGENT_DIR=str(tmp_path)))
    assert result.returncode == 255 and b"no i686 agent beside tunnel (build it: make i686)" in result.stderr

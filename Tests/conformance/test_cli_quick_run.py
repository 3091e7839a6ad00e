"""Issue 20, start latency: `tunnel [TARGET] run [-n] -- COMMAND` is taken without
ArgumentParser (Sources/tunnel/QuickRun.swift); any other form, and anything its checks
reject, goes to the parser. Each case here runs one command line twice: as the quick path
takes it, and with its first option written `--opt=value`, a form only the parser takes.
Both must do the same: what ssh is given, what the command reads and says, the status."""
import os
import stat
import subprocess

import pytest

from harness import AGENT
from test_cli import TUNNEL

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

# ssh, as far as tunnel can tell: records its arguments, runs the remote command with sh.
SSH = """#!/bin/sh
printf '%s\\n' "$@" >> "$SSH_RECORD"
while [ "$1" != "--" ]; do shift; done
shift 2
exec sh -c "$*"
"""


@pytest.fixture
def place(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(SSH)
    ssh.chmod(ssh.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("TUNNEL_VIA", None)

    def run(args, stdin=b""):
        record = tmp_path / "ssh-args"
        record.write_text("")
        result = subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, timeout=60,
                                env=dict(env, SSH_RECORD=str(record)))
        return result.returncode, result.stdout, result.stderr, record.read_text()
    run(["--ssh", "h", "run", "--", "true"])   # the agent cached: -v says the same both times
    return run


def parser_form(args):
    """The same line with its first `--option value` as `--option=value`: not the quick path's."""
    index = next(i for i, word in enumerate(args) if word in ("--ssh", "--via", "--docker"))
    return args[:index] + [f"{args[index]}={args[index + 1]}"] + args[index + 2:]


CASES = [
    ["--ssh", "h", "run", "--", "echo", "hi there"],
    ["--ssh", "h", "--ssh-option", "BatchMode=yes", "-v", "run", "-n", "--", "cat"],
    ["--ssh", "h", "run", "--ssh-option", "ConnectTimeout=5", "--", "cat"],
    ["--ssh", "h", "-q", "run", "--no-stdin", "--", "sh", "-c", "cat; exit 3"],
    ["--via", str(AGENT), "run", "--", "sh", "-c", "cat; echo err >&2; exit 65"],
    ["--via", str(AGENT), "--compat", "--quiet", "run", "--", "cat"],
    ["--via", str(AGENT), "--durable", "--verbose", "run", "-n", "--", "cat"],
    ["run", "--via", str(AGENT), "--", "-x"],
    ["run", "--via", str(AGENT), "--", "--help"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda args: " ".join(args).replace(str(AGENT), "AGENT"))
def test_the_quick_path_does_what_the_parser_does(place, args):
    quick = place(args, stdin=b"input\n")
    parsed = place(parser_form(args), stdin=b"input\n")
    assert quick == parsed
    assert quick[0] in (0, 3, 65, 127), quick


@pytest.mark.parametrize("args, message", [
    (["--sudo", "run", "--via", "b", "--", "true"], b"--sudo needs --ssh or --docker"),
    (["--ssh", "a", "--via", "b", "run", "--", "true"], b"--ssh, --docker and --via are alternatives"),
    (["--ssh-option", "X=y", "run", "--via", "b", "--", "true"], b"--ssh-option needs --ssh"),
    (["run", "--via", "b", "-n", "--stdin", "--", "true"], b"-n and --stdin/--stdin-file are alternatives"),
    (["--ssh", "[-oProxyCommand=touch x]:22", "run", "--", "true"], b"Usage: tunnel run"),
    (["run", "--via", "b", "--"], b"missing the command to run"),
])
def test_what_the_quick_path_leaves_is_the_parsers_to_word(place, args, message):
    status, _, stderr, ssh_args = place(args)
    assert (status, ssh_args) == (2, ""), stderr
    assert message in stderr and b"Usage: tunnel run" in stderr, stderr


def test_an_option_given_twice_is_the_parsers_last_value(place):
    """The quick path leaves repeats to the parser, which takes the last one."""
    status, stdout, _, ssh_args = place(["--ssh", "first", "--ssh", "h", "run", "--", "echo", "ok"])
    assert (status, stdout) == (0, b"ok\n")
    assert ssh_args.split("\n")[:2] == ["--", "h"], ssh_args[:100]

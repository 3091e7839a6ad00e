"""The client's start and end, made cheaper for issue 20 without changing what they say.
`tunnel` parses the words after a subcommand's name with that subcommand alone (a start
costs less than building the whole command tree), and anything that parse does not take is
parsed again from the root: usage errors, help and builtin flags keep the root's texts
(`tunnel run`, never a bare `run`) and statuses (Sources/tunnel/SubcommandParsing.swift).
A decided exit status leaves at once, as it is (Sources/tunnel/main.swift)."""
import os
import subprocess

import pytest

from harness import AGENT
from test_cli import TUNNEL

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def tunnel(*args):
    env = dict(os.environ, TUNNEL_VIA="/nonexistent/agent")
    return subprocess.run([str(TUNNEL), *args], capture_output=True, env=env, timeout=30)


@pytest.mark.parametrize("args", [["run", "--bogus", "--", "true"], ["run", "--timeout", "soon", "--", "true"],
                                  ["--ssh", "h", "--docker", "b", "run", "--", "true"], ["stat"], ["run", "--version"]])
def test_a_usage_error_after_a_subcommand_is_the_roots(args):
    result = tunnel(*args)
    assert result.returncode == 2, result
    subcommand = "stat" if "stat" in args else "run"
    assert b"Usage: tunnel " + subcommand.encode() in result.stderr, result.stderr


@pytest.mark.parametrize("args", [["run", "--help"], ["stat", "-h"], ["download", "--help"], ["help", "run"]])
def test_help_after_a_subcommand_is_the_roots(args):
    result = tunnel(*args)
    assert result.returncode == 0, result
    subcommand = next(word for word in args if word != "help" and not word.startswith("-"))
    assert b"USAGE: tunnel " + subcommand.encode() in result.stdout, result.stdout


def test_a_completion_script_is_the_whole_commands():
    """A request only the root answers: the subcommand alone would write its own script."""
    result = tunnel("--generate-completion-script", "bash")
    assert result.returncode == 0 and b"_tunnel()" in result.stdout, result.stdout[:200]
    assert tunnel("run", "--generate-completion-script", "bash").stdout == result.stdout


def test_a_parsed_subcommand_runs():
    """The subcommand's own parse is taken: it reaches the transport (here a missing one)."""
    result = tunnel("run", "--", "true")
    assert result.returncode == 255 and b"/nonexistent/agent" in result.stderr, result.stderr


@pytest.mark.parametrize("status", [0, 1, 2, 64, 65, 78, 255])
def test_a_remote_status_is_passed_on_as_it_is(status):
    """64 is also ArgumentParser's usage status: it once became tunnel's 2, with a blank line
    on stderr."""
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    result = subprocess.run([str(TUNNEL), "run", "--", "sh", "-c", f"exit {status}"], capture_output=True, env=env,
                            timeout=30)
    assert (result.returncode, result.stderr) == (status, b"")

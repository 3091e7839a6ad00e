"""`tunnel --ssh` and the argv it gives ssh (issue 20, item 7), with a fake `ssh` on PATH that
records its arguments: no form of --ssh may put an argument that starts with `-` where ssh
reads options, and a bad destination or port is a usage error (exit 2) before ssh starts."""
import json
import os
import subprocess
import sys

import pytest

from test_launch import DIST, TUNNEL

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

FAKE_SSH = """#!{python}
import json, sys
with open({record!r}, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(255)
"""


@pytest.fixture
def fake_ssh(tmp_path):
    """PATH with an `ssh` that appends its argv to a file (and fails like an unreachable host)."""
    record = tmp_path / "argv"
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "ssh").write_text(FAKE_SSH.format(python=sys.executable, record=str(record)))
    (folder / "ssh").chmod(0o755)

    def run(*args):
        environment = dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", TUNNEL_AGENT_DIR=str(DIST))
        result = subprocess.run([str(TUNNEL), *args, "ping"], capture_output=True, env=environment, timeout=60)
        calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        record.unlink(missing_ok=True)
        return result, calls

    return run


def options_part(argv):
    """What ssh parses as options: everything before its `--`."""
    return argv[:argv.index("--")] if "--" in argv else argv


@pytest.mark.parametrize("destination", [
    "[-oProxyCommand=touch /tmp/tunnel-owned]:22",
    "[-oProxyCommand=evil]",
    "user@[-oProxyCommand=evil]:22",
    "user@-oProxyCommand=evil",
    "-oProxyCommand=evil",
    "@web1", "[]:22", "[::1]x", "web1:22 ", "web 1",
])
def test_no_destination_reaches_ssh_as_an_option(fake_ssh, destination):
    result, calls = fake_ssh("--ssh", destination)
    assert result.returncode == 2, result.stderr
    assert b"--ssh" in result.stderr.splitlines()[0], result.stderr
    assert calls == []


@pytest.mark.parametrize("port", ["", "0", "65536", "99999999999999999999", "+22", "ssh", "\u0663"])
def test_a_port_is_a_number_from_1_to_65535(fake_ssh, port):
    result, calls = fake_ssh("--ssh", f"web1:{port}")
    assert result.returncode == 2, result.stderr
    assert b"must be a number from 1 to 65535" in result.stderr, result.stderr
    assert calls == []


@pytest.mark.parametrize("destination, host, port", [
    ("web1", "web1", None),
    ("deploy@web1:2222", "deploy@web1", "2222"),
    ("deploy@[::1]:65535", "deploy@::1", "65535"),
    ("fe80::1", "fe80::1", None),
])
def test_the_destination_comes_after_ssh_s_double_dash(fake_ssh, destination, host, port):
    result, calls = fake_ssh("--ssh", destination, "--ssh-option", "BatchMode=yes")
    assert result.returncode == 255
    [argv] = calls
    expected = (["-p", port] if port else []) + ["-o", "BatchMode=yes", "--", host]
    assert argv[:-1] == expected
    csh_line, snippet = argv[-1].split("\n", 1)   # CshLogin's line, then the snippet
    assert csh_line.startswith('test "$?shell" = 1 && exec /bin/sh -c ') and snippet.startswith("'sh' '-c' ")
    assert all(word in ("-p", "-o") for word in options_part(argv) if word.startswith("-"))

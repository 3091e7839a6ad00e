"""The `tunnel` command-line client (built by `swift build`) against the static agent."""
import os
import subprocess
from pathlib import Path

import pytest

from harness import AGENT, ROOT

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / ".build" / "debug" / "tunnel"))
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `swift build` first")


def tunnel(*args, stdin=b""):
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    return subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, env=env, timeout=30)


def test_run_relays_output_and_status():
    result = tunnel("run", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")


def test_run_with_stdin_and_signal():
    assert tunnel("run", "--stdin", "--", "tr", "a-z", "A-Z", stdin=b"abc").stdout == b"ABC"
    assert tunnel("run", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15


def test_errors_have_documented_statuses():
    missing = tunnel("run", "--", "no-such-program")
    assert missing.returncode == 1 and b"[Errno 2] No such file or directory: 'no-such-program'" in missing.stderr
    assert tunnel("run", "--umask", "9", "--", "true").returncode == 2
    assert tunnel("getenv", "--via", "/nonexistent/agent", "HOME").returncode == 3


def test_upload_download_stat(tmp_path):
    source = tmp_path / "source"
    source.write_bytes(os.urandom(2 << 20))
    target = tmp_path / "target"
    assert tunnel("upload", "--mode", "600", str(source), str(target)).returncode == 0
    assert target.read_bytes() == source.read_bytes()
    assert tunnel("download", str(target)).stdout == source.read_bytes()
    import hashlib
    lines = dict(line.split("=", 1) for line in tunnel("stat", "--sha512", str(target)).stdout.decode().split("\n") if line)
    assert lines["mode"] == "600" and lines["sha512"] == hashlib.sha512(source.read_bytes()).hexdigest()
    assert tunnel("stat", str(tmp_path / "missing")).returncode == 1


def test_user_group_getenv():
    assert b"uid=0\n" in tunnel("user", "root").stdout
    assert tunnel("group", "0").stdout.startswith(b"name=root\n")
    assert tunnel("getenv", "PATH").stdout.decode().strip() == os.environ["PATH"]
    assert tunnel("getenv", "SURELY_UNSET_VARIABLE").returncode == 1

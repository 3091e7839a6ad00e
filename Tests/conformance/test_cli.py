"""The `tunnel` command-line client (built by `swift build`) against the static agent."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness import AGENT, ROOT, read_until_closed

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def tunnel(*args, stdin=b""):
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    return subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, env=env, timeout=30)


def test_run_relays_output_and_status():
    result = tunnel("run", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")


def test_run_with_stdin_and_signal():
    assert tunnel("run", "--stdin", "--", "tr", "a-z", "A-Z", stdin=b"abc").stdout == b"ABC"
    assert tunnel("run", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15


def test_errors_have_documented_statuses(tmp_path):
    missing = tunnel("run", "--", "no-such-program")
    assert missing.returncode == 127 and b"tunnel: remote: 'no-such-program': No such file or directory\n" == missing.stderr
    (tmp_path / "not-executable").write_bytes(b"")
    assert tunnel("run", "--", str(tmp_path / "not-executable")).returncode == 126
    assert tunnel("run", "--cwd", "/nonexistent", "--", "true").returncode == 1   # missing on the target
    assert tunnel("run", "--umask", "9", "--", "true").returncode == 2
    assert tunnel("download", str(tmp_path / "missing")).returncode == 1
    assert tunnel("upload", "-", "/nonexistent/dir/f", stdin=b"x").returncode == 1
    assert tunnel("upload", "--mode", "bad", "-", str(tmp_path / "f"), stdin=b"x").returncode == 2
    # tunnel's own failures are 255, never a status a remote command could also have.
    assert tunnel("getenv", "--via", "/nonexistent/agent", "HOME").returncode == 255
    assert tunnel("run", "--", "sh", "-c", "exit 3").returncode == 3


def test_upload_like_scp(tmp_path):
    source = tmp_path / "script.sh"
    source.write_bytes(b"#!/bin/sh\n")
    source.chmod(0o751)
    (tmp_path / "into").mkdir()
    # A directory, or a trailing slash: inside it, under the local name, with the local mode.
    assert tunnel("upload", str(source), str(tmp_path / "into")).returncode == 0
    assert tunnel("upload", str(source), str(tmp_path / "into") + "/copy/").returncode == 1   # no such dir
    assert (tmp_path / "into" / "script.sh").read_bytes() == b"#!/bin/sh\n"
    assert os.stat(tmp_path / "into" / "script.sh").st_mode & 0o7777 == 0o751
    # An existing file keeps its mode unless --mode says otherwise.
    existing = tmp_path / "existing"
    existing.write_bytes(b"old")
    existing.chmod(0o640)
    assert tunnel("upload", str(source), str(existing)).returncode == 0
    assert os.stat(existing).st_mode & 0o7777 == 0o640
    assert tunnel("upload", "--mode", "600", str(source), str(existing)).returncode == 0
    assert os.stat(existing).st_mode & 0o7777 == 0o600


def peak_rss_kib(command):
    """Runs `command`; its VmHWM, read from /proc while it runs (rusage would count the
    spawning Python's pages as well)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
    assert process.returncode == 0, process.stderr.read()
    return peak


def test_a_gibibyte_each_way_in_bounded_memory(tmp_path):
    """Downloads were held whole (537 MB of RSS for 300 MB)."""
    source = tmp_path / "big"
    with open(source, "wb") as handle:
        handle.truncate(1 << 30)
    assert peak_rss_kib([str(TUNNEL), "upload", str(source), str(tmp_path / "up")]) < 32 * 1024
    assert os.path.getsize(tmp_path / "up") == 1 << 30
    assert peak_rss_kib([str(TUNNEL), "download", str(tmp_path / "up"), str(tmp_path / "down")]) < 32 * 1024
    assert os.path.getsize(tmp_path / "down") == 1 << 30


def test_progress_only_on_a_terminal(tmp_path):
    import pty
    source = tmp_path / "big"
    with open(source, "wb") as handle:
        handle.truncate(256 << 20)

    def stderr_of(*args, terminal):
        controller, terminal_end = pty.openpty()
        process = subprocess.Popen([str(TUNNEL), *args], stdout=subprocess.DEVNULL,
                                   stderr=terminal_end if terminal else subprocess.PIPE,
                                   env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
        os.close(terminal_end)
        if not terminal:
            output = process.stderr.read()
        else:
            output = read_until_closed(controller)
        assert process.wait(timeout=60) == 0
        os.close(controller)
        return output
    shown = stderr_of("upload", str(source), str(tmp_path / "a"), terminal=True)
    assert b"MB / 268.4 MB" in shown and b"ETA" in shown
    assert stderr_of("upload", "--quiet", str(source), str(tmp_path / "b"), terminal=True) == b""
    assert stderr_of("upload", str(source), str(tmp_path / "c"), terminal=False) == b""


def test_json_output_and_version(tmp_path):
    import json
    (tmp_path / "f").write_bytes(b"abc")
    info = json.loads(tunnel("stat", "--json", "--sha512", str(tmp_path / "f")).stdout)
    assert info["type"] == "file" and info["size"] == 3 and isinstance(info["mode"], str)
    assert info["sha512"] == __import__("hashlib").sha512(b"abc").hexdigest()
    assert set(info) == {"type", "mode", "owner", "group", "size", "mtime", "ctime", "sha512"}
    assert json.loads(tunnel("user", "--json", "root").stdout)["uid"] == 0
    assert json.loads(tunnel("group", "--json", "root").stdout)["gid"] == 0
    assert tunnel("--version").stdout.startswith(b"tunnel ")
    for shell in ("bash", "zsh", "fish"):
        completion = tunnel("--generate-completion-script", shell)
        assert completion.returncode == 0 and b"upload" in completion.stdout


def test_transport_failures_say_what_happened(tmp_path):
    """Used to be "protocol error: Unexpected EOF" whatever happened."""
    failing = tmp_path / "failing-ssh"
    failing.write_text("#!/bin/sh\necho 'ssh: connect to host web1 port 22: Connection refused' >&2\nexit 7\n")
    failing.chmod(0o755)
    result = tunnel("getenv", "--via", str(failing), "HOME")
    assert result.returncode == 255
    assert b"Connection refused" in result.stderr and b"ended with status 7" in result.stderr
    chatty = tmp_path / "chatty-shell"
    chatty.write_text(f"#!/bin/sh\necho 'Welcome to web1!'\nexec {AGENT}\n")
    chatty.chmod(0o755)
    result = tunnel("getenv", "--via", str(chatty), "HOME")
    assert result.returncode == 255 and b"printed text before the agent started" in result.stderr


def test_options_never_reach_the_remote_command():
    assert tunnel("run", "--help").returncode == 0
    assert b"--user" in tunnel("run", "--help").stdout
    unknown = tunnel("run", "-u", "x", "--", "true")
    assert unknown.returncode == 2 and b"unknown option '-u'" in unknown.stderr
    assert tunnel("run", "--deadline", "5", "--", "true").returncode == 2
    # After the first word that is not an option, everything is the command's.
    assert tunnel("run", "echo", "x", "--help").stdout == b"x --help\n"
    assert tunnel("run", "--", "echo", "-u").stdout == b"-u\n"


def test_upload_from_sources_of_unknown_length(tmp_path):
    """A pipe, stdin and /proc have no size in fstat: they used to send 0 bytes, exit 0."""
    content = os.urandom(3 << 20)
    assert tunnel("upload", "-", str(tmp_path / "from-stdin"), stdin=content).returncode == 0
    assert (tmp_path / "from-stdin").read_bytes() == content
    assert tunnel("upload", "/proc/self/status", str(tmp_path / "from-proc")).returncode == 0
    assert b"Name:" in (tmp_path / "from-proc").read_bytes()
    result = subprocess.run(f"head -c 100000 /dev/zero | {TUNNEL} upload /dev/stdin {tmp_path / 'from-pipe'}",
                            shell=True, env=dict(os.environ, TUNNEL_VIA=str(AGENT)), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-pipe").read_bytes() == bytes(100000)


def test_local_write_errors_are_failures(tmp_path):
    """Used to exit 0 with nothing written."""
    (tmp_path / "f").write_bytes(b"data")
    full = tunnel("download", str(tmp_path / "f"), "/dev/full")
    assert full.returncode == 255 and b"No space left on device" in full.stderr
    with open("/dev/full", "wb") as devfull:
        result = subprocess.run([str(TUNNEL), "run", "--", "cat", str(tmp_path / "f")], stdout=devfull,
                                capture_output=False, stderr=subprocess.PIPE, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    # Standard output fails as GNU tools do: "write error", exit 1.
    assert result.returncode == 1 and b"write error: No space left on device" in result.stderr


def test_download_is_renamed_into_place_only_when_complete(tmp_path):
    (tmp_path / "f").write_bytes(os.urandom(1 << 20))
    target = tmp_path / "copy"
    target.write_bytes(b"old")
    assert tunnel("download", str(tmp_path / "f"), str(target)).returncode == 0
    assert target.read_bytes() == (tmp_path / "f").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["copy", "f"]
    assert tunnel("download", str(tmp_path / "missing"), str(target)).returncode == 1
    assert target.read_bytes() == (tmp_path / "f").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["copy", "f"]


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

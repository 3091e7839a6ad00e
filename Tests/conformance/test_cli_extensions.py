"""`tunnel` with the protocol extensions (issue 12): live output, Ctrl-C, environment,
time limits, the file commands, recursive transfers; and what it says to fora's Python
dispatcher, which does not know them."""
import os
import signal
import subprocess
import time

import pytest

from harness import AGENT, reference_command
from test_cli import TUNNEL, tunnel

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
REFERENCE_VIA = " ".join(reference_command())


def test_run_output_is_live(tmp_path):
    """The command's second line waits for a file that the test makes only once the
    first line has reached tunnel's stdout."""
    gate = tmp_path / "gate"
    process = subprocess.Popen([str(TUNNEL), "run", "--", "sh", "-c",
                                f"echo first; while [ ! -e {gate} ]; do sleep 0.01; done; echo second"],
                               stdout=subprocess.PIPE, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    assert process.stdout.readline() == b"first\n"
    gate.touch()
    assert process.stdout.read() == b"second\n" and process.wait(timeout=30) == 0


def test_ctrl_c_reaches_the_remote_command_then_kills_it():
    script = 'trap "echo interrupted; exit 7" INT; echo ready; while :; do sleep 0.01; done'
    process = subprocess.Popen([str(TUNNEL), "run", "--", "sh", "-c", script], stdout=subprocess.PIPE,
                               env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(signal.SIGINT)
    assert process.stdout.read() == b"interrupted\n" and process.wait(timeout=30) == 7
    # A command that ignores SIGINT: the second Ctrl-C is SIGKILL.
    stubborn = subprocess.Popen([str(TUNNEL), "run", "--", "sh", "-c", "trap '' INT; echo ready; sleep 30"],
                                stdout=subprocess.PIPE, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    assert stubborn.stdout.readline() == b"ready\n"
    stubborn.send_signal(signal.SIGINT)
    time.sleep(0.2)
    stubborn.send_signal(signal.SIGINT)
    assert stubborn.wait(timeout=30) == 128 + 9


def test_stdin_streams_to_the_command():
    process = subprocess.Popen([str(TUNNEL), "run", "--stdin", "--", "sh", "-c", "read line; echo got $line; cat"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    process.stdin.write(b"one\n")
    process.stdin.flush()
    assert process.stdout.readline() == b"got one\n"
    process.stdin.write(b"rest")
    process.stdin.close()
    assert process.stdout.read() == b"rest" and process.wait(timeout=30) == 0


def test_environment_options_and_timeout():
    assert tunnel("run", "--env", "A=1", "--env", "B=2", "--", "sh", "-c", "echo $A$B").stdout == b"12\n"
    assert tunnel("run", "--empty-env", "--env", "ONLY=1", "--", "env").stdout == b"ONLY=1\n"
    login = tunnel("run", "--login", "--", "sh", "-c", "echo $HOME $USER $LOGNAME; pwd").stdout.decode().split()
    home = os.path.expanduser("~" + login[1])
    assert login == [home, login[1], login[1], home if os.path.isdir(home) else "/"]
    timed = tunnel("run", "--timeout", "0.3", "--", "sh", "-c", "trap '' TERM; sleep 30")
    assert timed.returncode == 124
    assert tunnel("run", "--no-stream", "--", "sh", "-c", "echo out; echo err >&2; exit 4").returncode == 4


def test_file_commands(tmp_path):
    root = str(tmp_path)
    assert tunnel("mkdir", "-p", "--mode", "750", f"{root}/a/b/c").returncode == 0
    # As mkdir -p: the mode is the last folder's; parents get 755.
    assert oct((tmp_path / "a/b/c").stat().st_mode & 0o777) == "0o750"
    assert oct((tmp_path / "a/b").stat().st_mode & 0o777) == "0o755"
    assert tunnel("ln", "-s", "../elsewhere", f"{root}/a/link").returncode == 0
    (tmp_path / "a" / "file").write_text("x")
    listing = tunnel("ls", f"{root}/a")
    assert listing.stdout == b"b\nfile\nlink\n"
    long = tunnel("ls", "-l", f"{root}/a").stdout.decode().splitlines()
    assert long[0].startswith("drwxr-xr-x ") and long[2].startswith("lrwxrwxrwx ") and long[2].endswith("link -> ../elsewhere")
    assert tunnel("chmod", "600", f"{root}/a/file").returncode == 0
    assert oct((tmp_path / "a/file").stat().st_mode & 0o777) == "0o600"
    if os.getuid() == 0:
        assert tunnel("chown", "nobody:nogroup", f"{root}/a/file").returncode == 0
        assert (tmp_path / "a/file").stat().st_uid == 65534
        assert tunnel("chown", "--no-dereference", ":0", f"{root}/a/link").returncode == 0
    (tmp_path / "into").mkdir()
    assert tunnel("mv", f"{root}/a", f"{root}/into").returncode == 0
    assert (tmp_path / "into/a/b/c").is_dir()
    (tmp_path / "taken").write_text("keep")
    assert tunnel("mv", "-n", f"{root}/into/a/file", f"{root}/taken").returncode == 1
    assert (tmp_path / "taken").read_text() == "keep"
    refused = tunnel("rm", f"{root}/into/a", f"{root}/into/a/link")
    assert refused.returncode == 1 and b"Directory not empty" in refused.stderr
    assert not (tmp_path / "into/a/link").is_symlink(), "the other path was still removed"
    assert tunnel("rm", "-r", f"{root}/into").returncode == 0 and not (tmp_path / "into").exists()
    assert tunnel("rm", "-f", f"{root}/missing").returncode == 0
    assert tunnel("rm", f"{root}/missing").returncode == 1


def test_recursive_transfers_keep_names_modes_and_links(tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "one").write_text("one")
    (source / "sub" / "big").write_bytes(os.urandom(3 << 20))
    (source / "sub" / "link").symlink_to("../one")
    (source / os.fsdecode(b"not-utf8-\xff")).write_text("odd")
    os.chmod(source / "sub", 0o750)
    remote = tmp_path / "remote"
    remote.mkdir()
    assert tunnel("upload", "-r", str(source), str(remote)).returncode == 0
    back = tmp_path / "back"
    back.mkdir()
    assert tunnel("download", "-r", str(remote / "src"), str(back)).returncode == 0
    for copy in (remote / "src", back / "src"):
        assert subprocess.run(["diff", "-r", str(source), str(copy)]).returncode == 0
        assert os.readlink(copy / "sub" / "link") == "../one"
        assert oct((copy / "sub").stat().st_mode & 0o777) == "0o750"
        assert (copy / os.fsdecode(b"not-utf8-\xff")).read_text() == "odd"
    assert not any(name.startswith(".tunnel-") for name in os.listdir(remote / "src"))


def test_against_foras_python_dispatcher():
    """It ends the session on Hello: tunnel says so, and runs what needs only the 23
    packets once more without it; what needs the extensions fails clearly."""
    plain = tunnel("--via", REFERENCE_VIA, "run", "--", "echo", "hi")
    assert plain.returncode == 0 and plain.stdout == b"hi\n"
    assert b"does not know the protocol extensions" in plain.stderr and b"trying again without them" in plain.stderr
    needs = tunnel("--via", REFERENCE_VIA, "ls", "/")
    assert needs.returncode == 255 and b"ls needs them" in needs.stderr
    durable = tunnel("--via", REFERENCE_VIA, "--durable", "upload", "-", "/tmp/never-uploaded", stdin=b"x")
    assert durable.returncode == 255 and b"--durable needs them" in durable.stderr
    quiet = tunnel("--via", REFERENCE_VIA, "--compat", "run", "--", "echo", "hi")
    assert quiet.stdout == b"hi\n" and b"extensions" not in quiet.stderr.replace(b"DeprecationWarning", b"")
    assert tunnel("--via", REFERENCE_VIA, "--compat", "run", "--timeout", "1", "--", "true").returncode == 2


def test_recursive_round_trip_with_odd_names_and_empty_folders(tmp_path):
    source = tmp_path / "src"
    (source / "empty dir").mkdir(parents=True)
    (source / "with space").write_text("spaces")
    (source / "new\nline").write_text("newline")
    (source / "quote'\"").write_text("quotes")
    (source / "-dash").write_text("dash")
    remote = tmp_path / "remote"
    assert tunnel("upload", "-r", str(source), str(remote)).returncode == 0   # remote did not exist: becomes the copy
    assert sorted(os.listdir(remote)) == sorted(os.listdir(source))
    assert (remote / "empty dir").is_dir() and not os.listdir(remote / "empty dir")
    back = tmp_path / "back"
    assert tunnel("download", "-r", str(remote), str(back)).returncode == 0
    assert subprocess.run(["diff", "-r", str(source), str(back)]).returncode == 0


def test_sigterm_to_tunnel_ends_the_remote_command():
    marker = f"{500 + os.getpid() % 100}.41"
    process = subprocess.Popen([str(TUNNEL), "run", "--", "sh", "-c", f"echo ready; exec sleep {marker}"],
                               stdout=subprocess.PIPE, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + 15
    from harness import processes_with
    assert processes_with(marker) == []

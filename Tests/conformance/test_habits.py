"""ssh and coreutils habits (issue 23), the items left after test_cli_habits.py: rm -r and
upload messages that name the failing path, uploads from a pipe with a shell redirect's mode,
`upload DIR` without -r, `ls -l` link counts and device numbers, a tcsh login, `run -tt`.

The agent is started locally (`--via`), as in test_cli_habits.py."""
import os
import pwd
import re
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import AGENT, ROOT, TEST_USER, as_user

TUNNEL = ROOT / "dist" / "tunnel"
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def tunnel(*args, stdin=b"", umask=None, via=None):
    """tunnel with `args`, its agent started by `via` (default: the agent, as we are)."""
    env = dict(os.environ, TUNNEL_VIA=" ".join(via or [str(AGENT)]))
    if umask is None:
        return subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, env=env, timeout=60)
    return subprocess.run(["sh", "-c", f'umask {umask}; exec "$0" "$@"', str(TUNNEL), *args], input=stdin,
                          capture_output=True, env=env, timeout=60)


@pytest.fixture
def as_test_user():
    """(the --via command, a folder it owns) for the agent as TEST_USER: permissions apply."""
    if os.getuid() != 0:
        pytest.skip("needs root to start the agent as another user")
    entry = pwd.getpwnam(TEST_USER)
    folder = Path(tempfile.mkdtemp(prefix="tunnel-habits-"))
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    yield as_user([str(AGENT)], TEST_USER), folder
    subprocess.run(["chmod", "-R", "u+rwx", str(folder)])
    subprocess.run(["rm", "-rf", str(folder)])


@pytest.fixture
def full_disk():
    """A 64 KiB tmpfs: every write of more fails with ENOSPC."""
    if os.getuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    folder = Path(tempfile.mkdtemp(prefix="tunnel-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", str(folder)])
    folder.rmdir()


# ---------------------------------------------------------------------------------------
# rm -r names the entry that failed, as GNU rm does


def test_rm_r_names_the_entry_that_could_not_be_removed(as_test_user):
    via, folder = as_test_user
    locked = folder / "tree" / "sub" / "locked"
    locked.mkdir(parents=True)
    (locked / "file").write_bytes(b"x")
    subprocess.run(["chown", "-R", TEST_USER, str(folder / "tree")], check=True)
    locked.chmod(0o555)   # its entries cannot be removed
    result = tunnel("rm", "-r", str(folder / "tree"), via=via)
    assert result.returncode == 1, result
    assert f"'{locked / 'file'}'".encode() in result.stderr and b"Permission denied" in result.stderr, result.stderr
    assert (locked / "file").exists()
    # One that cannot be read at all is named itself.
    unreadable = folder / "other" / "closed"
    unreadable.mkdir(parents=True)
    (unreadable / "inside").mkdir()
    subprocess.run(["chown", "-R", TEST_USER, str(folder / "other")], check=True)
    unreadable.chmod(0)
    result = tunnel("rm", "-r", str(folder / "other"), via=via)
    assert result.returncode == 1 and f"'{unreadable}'".encode() in result.stderr, result.stderr


def test_rm_r_of_a_removable_tree_still_removes_it(tmp_path):
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_bytes(b"x")
    (tree / "g").symlink_to("/etc")
    assert tunnel("rm", "-r", str(tree)).returncode == 0
    assert not tree.exists() and Path("/etc/passwd").exists()


# ---------------------------------------------------------------------------------------
# A full disk names the file, in uploads as in downloads


def test_a_full_disk_names_the_uploaded_file(full_disk, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(200_000))
    for words in (["upload", str(big)], ["--durable", "upload", str(big)], ["upload", "-"]):
        result = tunnel(*words, str(full_disk / "up"), stdin=big.read_bytes())
        assert result.returncode == 1, result
        assert f"'{full_disk / 'up'}': No space left on device".encode() in result.stderr, (words, result.stderr)
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "f").write_bytes(big.read_bytes())
    result = tunnel("upload", "-r", str(tree), str(full_disk / "t"))
    assert result.returncode == 23, result
    assert f"'{full_disk / 't' / 'a' / 'f'}': No space left on device".encode() in result.stderr, result.stderr
    assert sorted(p.name for p in full_disk.rglob("*") if p.is_file()) == []   # no half-written file


def test_a_full_disk_names_the_downloaded_file(full_disk, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(200_000))
    result = tunnel("download", str(big), str(full_disk / "down"))
    assert result.returncode == 255 and f"writing {full_disk / 'down'}: No space left".encode() in result.stderr
    assert list(full_disk.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Uploads from a pipe get a shell redirect's mode; a folder needs -r


@pytest.mark.parametrize("mask, mode", [("022", 0o644), ("027", 0o640), ("077", 0o600)])
def test_an_upload_from_a_pipe_gets_0666_masked_by_the_umask(tmp_path, mask, mode):
    result = tunnel("upload", "-", str(tmp_path / "new"), stdin=b"piped\n", umask=mask)
    assert result.returncode == 0, result
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == mode
    # An existing file keeps its own mode, as with a shell redirect.
    (tmp_path / "old").write_bytes(b"")
    (tmp_path / "old").chmod(0o604)
    assert tunnel("upload", "-", str(tmp_path / "old"), stdin=b"again\n", umask=mask).returncode == 0
    assert stat.S_IMODE((tmp_path / "old").stat().st_mode) == 0o604 and (tmp_path / "old").read_bytes() == b"again\n"


def test_upload_of_a_folder_without_r_says_use_r(tmp_path):
    (tmp_path / "folder").mkdir()
    result = tunnel("upload", str(tmp_path / "folder"), str(tmp_path / "copy"))
    assert result.returncode == 2, result
    assert result.stderr == f"tunnel: {tmp_path / 'folder'}: is a directory (use -r)\n".encode()
    assert not (tmp_path / "copy").exists()


# ---------------------------------------------------------------------------------------
# ls -l: link counts and device numbers, as GNU ls shows them


def gnu_ls_l(folder):
    """GNU ls -l of `folder`, in tunnel's time format and byte order, without its total line."""
    result = subprocess.run(["ls", "-l", "--time-style=+%Y-%m-%d %H:%M", str(folder)], capture_output=True,
                            env=dict(os.environ, TZ="UTC", LC_ALL="C"), check=True)
    return [line for line in result.stdout.decode().splitlines() if not line.startswith("total ")]


def test_ls_l_shows_link_counts_and_device_numbers_as_gnu_ls(tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to make device nodes")
    folder = tmp_path / "listed"
    (folder / "sub" / "inner").mkdir(parents=True)   # sub: 3 links
    (folder / "file").write_bytes(b"x" * 12345)
    os.link(folder / "file", folder / "hardlink")      # file and hardlink: 2 each
    os.mknod(folder / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(folder / "null", 0o666)   # whatever the umask
    os.mknod(folder / "loop", 0o660 | stat.S_IFBLK, os.makedev(7, 12))
    os.mknod(folder / "wide", 0o600 | stat.S_IFCHR, os.makedev(259, 131072))   # numbers beyond 8 bits
    (folder / "link").symlink_to("file")
    lines = tunnel("ls", "-l", str(folder)).stdout.decode().splitlines()
    assert lines == gnu_ls_l(folder)
    assert any(line.startswith("crw-rw-rw- 1 root root   1,      3 ") for line in lines), lines
    # A file listed by itself.
    alone = tunnel("ls", "-l", str(folder / "null")).stdout.decode()
    assert alone.startswith("crw-rw-rw- 1 root root 1, 3 "), alone


def test_ls_l_of_dev_shows_null_as_gnu_ls_does():
    ours = {line.rsplit(" ", 1)[-1]: line for line in tunnel("ls", "-l", "/dev").stdout.decode().splitlines()}
    assert re.match(r"crw-rw-rw- +1 root +root +1, +3 ", ours["null"]), ours["null"]


def test_ls_l_without_the_numbers_shows_a_question_mark(tmp_path):
    """An agent that does not serve StatNumbers (refused here by --deny): `?` for the count."""
    (tmp_path / "file").write_bytes(b"abc")
    result = tunnel("ls", "-l", str(tmp_path), via=[str(AGENT), "--deny", "StatNumbers"])
    assert result.returncode == 0, result
    assert result.stdout.decode().startswith("-rw-r--r-- ? root root 3 "), result.stdout


# ---------------------------------------------------------------------------------------
# run -tt: a pty even when stdin is not a terminal, as ssh -tt


def test_run_tt_forces_a_pty_without_a_local_terminal():
    forced = tunnel("run", "-tt", "--", "tty", stdin=b"")
    assert forced.returncode == 0 and forced.stdout.startswith(b"/dev/pts/"), forced
    assert b"will not be allocated" not in forced.stderr
    # One -t without a terminal runs without a pty, as ssh -t does.
    single = tunnel("run", "-t", "--", "tty", stdin=b"")
    assert single.stdout == b"not a tty\n" and b"will not be allocated" in single.stderr, single


# ---------------------------------------------------------------------------------------
# Progress on a terminal: downloads show their total and the time left; -r shows progress


def progress_shown(*args):
    """What tunnel writes on a terminal's stderr while it runs `args` (stdout: nowhere)."""
    from harness import read_until_closed
    import pty
    controller, terminal_end = pty.openpty()
    process = subprocess.Popen([str(TUNNEL), *args], stdout=subprocess.DEVNULL, stderr=terminal_end,
                               env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    os.close(terminal_end)
    shown = read_until_closed(controller)
    os.close(controller)
    assert process.wait(timeout=60) == 0, shown
    return shown


def test_download_progress_shows_the_total_and_the_time_left(tmp_path):
    source = tmp_path / "big"
    with open(source, "wb") as handle:
        handle.truncate(256 << 20)
    shown = progress_shown("download", str(source), str(tmp_path / "copy"))
    assert b" / 268.4 MB" in shown and b"ETA" in shown, shown[-200:]


def test_r_shows_files_and_bytes_done_on_a_terminal(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a", "sub/b"):
        with open(tree / name, "wb") as handle:
            handle.truncate(32 << 20)
    for words in (["download", "-r", str(tree), str(tmp_path / "down")], ["upload", "-r", str(tree), str(tmp_path / "up")]):
        shown = progress_shown(*words)
        assert b"2 files, 67.1 MB" in shown, (words, shown[-200:])


# ---------------------------------------------------------------------------------------
# SIGTERM and SIGHUP sent to tunnel reach the remote command, as Ctrl-C does


@pytest.mark.parametrize("name", ["TERM", "HUP"])
def test_sigterm_and_sighup_to_tunnel_run_the_remote_trap(name):
    from harness import processes_with, wait_until
    import signal
    marker = f"{300 + os.getpid() % 100}.{len(name)}7"
    # `ready` comes from the background child once it is a fresh sh (exec'd, so the trap's
    # handler is gone): a signal that reached it still inside the forked copy of the shell
    # would be taken by that handler, and the sleep would live on, holding the output open
    # (as over ssh).
    script = (f"trap 'echo trapped {name}; exit 7' {name}; "
              f"sh -c 'echo ready; exec sleep {marker}' & wait")
    process = subprocess.Popen([str(TUNNEL), "run", "--", "sh", "-c", script], stdout=subprocess.PIPE,
                               env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(getattr(signal, f"SIG{name}"))
    assert process.stdout.read() == f"trapped {name}\n".encode()
    assert process.wait(timeout=30) == 7
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


# ---------------------------------------------------------------------------------------
# The differences from coreutils that docs/usage.md lists stay as it says


def test_the_listed_differences_from_coreutils_hold(tmp_path):
    (tmp_path / "empty").mkdir()
    assert tunnel("rm", str(tmp_path / "empty")).returncode == 0   # as rm -d
    assert not (tmp_path / "empty").exists()
    hard = tunnel("ln", str(tmp_path / "a"), str(tmp_path / "b"))
    assert hard.returncode == 2 and b"only symbolic links" in hard.stderr, hard
    assert tunnel("mkdir", str(tmp_path / "m"), umask="077").returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "m").st_mode) == 0o755
    (tmp_path / "f").write_bytes(b"")
    assert tunnel("ls", str(tmp_path)).stdout == b"f\nm\n"   # one name a line, as ls -1
    assert tunnel("stat", str(tmp_path / "f")).stdout.startswith(b"type=file\n")

"""upload -r and download -r as scp and rsync users expect them (issues 22 and 23):
requests pipelined ahead of their answers, mtimes kept with -p, a failed entry named and
the rest copied (exit 23), --durable syncing the downloaded tree once."""
import os
import subprocess
import sys

import pytest

from harness import AGENT, read_until_closed
from test_cli import TUNNEL, tunnel

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

# Between tunnel and a real agent: once the first request naming a marked file arrives, the
# agent's answers are held back until MARKS marked requests have arrived (or, for a client
# that waits for each answer, until its input has been idle for a while: it could never send
# more). How many had arrived when the answers were let through is written to RECORD.
HOLDING_PROXY = '''
import os, select, subprocess, sys
MARKS, RECORD = {marks}, {record!r}
agent = subprocess.Popen([{agent!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
seen, held, holding, recorded, tail = 0, b"", False, False, b""
inputs = [0, agent.stdout.fileno()]
while inputs:
    ready, _, _ = select.select(inputs, [], [], 2.0)
    if not ready and holding:
        holding = False          # idle: the client waits for an answer
    for fd in ready:
        chunk = os.read(fd, 65536)
        if fd == 0:
            if not chunk:
                agent.stdin.close(); inputs.remove(0); holding = False
                continue
            text = tail + chunk
            count = text.count(b"pipelined-mark-") - tail.count(b"pipelined-mark-")
            tail = text[-32:]
            if count and not recorded and not holding and seen == 0:
                holding = True
            seen += count
            if holding and seen >= MARKS:
                holding = False
            agent.stdin.write(chunk); agent.stdin.flush()
        else:
            if not chunk:
                inputs.remove(fd)
            held += chunk
    if not holding and held:
        if seen and not recorded:
            open(RECORD, "w").write(str(seen)); recorded = True
        os.write(1, held); held = b""
sys.exit(agent.wait())
'''


def holding_proxy(tmp_path, marks):
    record = tmp_path / "record"
    proxy = tmp_path / "proxy.py"
    proxy.write_text(HOLDING_PROXY.format(marks=marks, record=str(record), agent=str(AGENT)))
    return f"{sys.executable} {proxy}", record


def marked_tree(folder, count):
    (folder / "sub").mkdir(parents=True)
    for index in range(count):
        (folder / "sub" / f"pipelined-mark-{index:03}").write_text(f"content {index}\n")


def test_upload_r_sends_requests_ahead_of_their_answers(tmp_path):
    marked_tree(tmp_path / "src", 40)
    remote = tmp_path / "remote"
    remote.mkdir()
    via, record = holding_proxy(tmp_path, 20)
    result = tunnel("--via", via, "upload", "-r", str(tmp_path / "src"), str(remote))
    assert result.returncode == 0, result.stderr
    assert int(record.read_text()) >= 20, "requests waited for their answers"
    assert subprocess.run(["diff", "-r", str(tmp_path / "src"), str(remote / "src")]).returncode == 0


def test_download_r_sends_requests_ahead_of_their_answers(tmp_path):
    marked_tree(tmp_path / "src", 40)
    via, record = holding_proxy(tmp_path, 20)
    result = tunnel("--via", via, "download", "-r", str(tmp_path / "src"), str(tmp_path / "back"))
    assert result.returncode == 0, result.stderr
    assert int(record.read_text()) >= 20, "requests waited for their answers"
    assert subprocess.run(["diff", "-r", str(tmp_path / "src"), str(tmp_path / "back")]).returncode == 0


def a_tree(folder):
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a").write_text("a")
    (folder / "sub" / "b").write_text("b")
    (folder / "sub" / "deeper" / "c").write_bytes(os.urandom(300_000))
    (folder / "sub" / "link").symlink_to("b")
    times = {"a": 1_000_000_000_123_456_789, "sub/b": 1_100_000_000_000_000_000, "sub/deeper/c": 1_200_000_000_000_000_005,
             "sub/link": 1_300_000_000_000_000_000, "sub/deeper": 1_400_000_000_000_000_000,
             "sub": 1_500_000_000_000_000_000}
    for name, ns in times.items():
        os.utime(folder / name, ns=(ns, ns), follow_symlinks=False)
    return times


def mtimes(folder, names):
    return {name: os.lstat(folder / name).st_mtime_ns for name in names}


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_p_keeps_mtimes(tmp_path, direction):
    times = a_tree(tmp_path / "src")
    if direction == "upload":
        (tmp_path / "dest").mkdir()
        result = tunnel("upload", "-r", "-p", str(tmp_path / "src"), str(tmp_path / "dest"))
        copy = tmp_path / "dest" / "src"
    else:
        result = tunnel("download", "-r", "-p", str(tmp_path / "src"), str(tmp_path / "copy"))
        copy = tmp_path / "copy"
    assert result.returncode == 0, result.stderr
    assert mtimes(copy, times) == times
    without = tmp_path / "without"
    assert tunnel("download", "-r", str(tmp_path / "src"), str(without)).returncode == 0
    assert os.lstat(without / "a").st_mtime_ns != times["a"], "without -p, mtimes are the copy's own"


def test_download_r_copies_what_it_can_names_each_failure_and_exits_23(tmp_path):
    """A local folder in the way of one file: that file fails, everything else is copied."""
    a_tree(tmp_path / "src")
    (tmp_path / "src" / "sub" / "zz-after").write_text("after")
    (tmp_path / "dest" / "src" / "sub" / "b" / "in-the-way").mkdir(parents=True)
    result = tunnel("download", "-r", str(tmp_path / "src"), str(tmp_path / "dest"))   # into dest/src, as scp -r
    dest = tmp_path / "dest" / "src"
    assert result.returncode == 23, result.stderr
    assert str(dest / "sub" / "b").encode() in result.stderr
    assert b"1 entry was not copied" in result.stderr
    assert (dest / "sub" / "zz-after").read_text() == "after"
    assert (dest / "a").read_text() == "a"
    assert (dest / "sub" / "deeper" / "c").read_bytes() == (tmp_path / "src" / "sub" / "deeper" / "c").read_bytes()
    assert not [p for p in dest.rglob(".tunnel-*")], "no temporary is left"


def test_upload_r_copies_what_it_can_names_each_failure_and_exits_23(tmp_path):
    """A remote folder in the way of a file, and a remote file in the way of a folder: both
    are named (the folder once, not each of its entries), the rest is copied."""
    a_tree(tmp_path / "src")
    (tmp_path / "src" / "zz-after").write_text("after")
    remote = tmp_path / "remote"
    (remote / "src" / "a" / "in-the-way").mkdir(parents=True)
    (remote / "src" / "sub").mkdir()
    (remote / "src" / "sub" / "deeper").write_text("a file where the source has a folder")
    result = tunnel("upload", "-r", str(tmp_path / "src"), str(remote))
    assert result.returncode == 23, result.stderr
    assert b"2 entries were not copied" in result.stderr, result.stderr
    assert (remote / "src" / "zz-after").read_text() == "after"
    assert (remote / "src" / "sub" / "b").read_text() == "b"


def test_a_second_upload_r_replaces_the_trees_symlinks(tmp_path):
    """The same tree uploaded again: its symlinks replace the ones the first upload made
    (EEXIST before), a changed link gets its new target, and a file where the source now
    has a link is replaced by it, as rsync does; a folder where the source has a link stays
    and is named (exit 23)."""
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a").write_text("a")
    (source / "l").symlink_to("a")
    (source / "sub" / "dangling").symlink_to("nowhere")
    remote = tmp_path / "remote"
    remote.mkdir()
    for _ in range(2):
        result = tunnel("upload", "-r", str(source), str(remote))
        assert result.returncode == 0, result.stderr
    assert os.readlink(remote / "src" / "l") == "a" and os.readlink(remote / "src" / "sub" / "dangling") == "nowhere"
    (source / "l").unlink()
    (source / "l").symlink_to("sub")
    (remote / "src" / "sub" / "dangling").unlink()
    (remote / "src" / "sub" / "dangling").write_text("a file where the source has a link")
    result = tunnel("upload", "-r", str(source), str(remote))
    assert result.returncode == 0, result.stderr
    assert os.readlink(remote / "src" / "l") == "sub" and os.readlink(remote / "src" / "sub" / "dangling") == "nowhere"
    (remote / "src" / "l").unlink()
    (remote / "src" / "l").mkdir()
    (remote / "src" / "l" / "kept").write_text("kept")
    result = tunnel("upload", "-r", str(source), str(remote))
    assert result.returncode == 23 and b"File exists" in result.stderr, result.stderr
    assert (remote / "src" / "l" / "kept").read_text() == "kept"
    assert not [p for p in remote.rglob(".tunnel-*")], "no temporary is left"


def test_durable_download_r(tmp_path):
    a_tree(tmp_path / "src")
    result = tunnel("--durable", "download", "-r", str(tmp_path / "src"), str(tmp_path / "copy"))
    assert result.returncode == 0, result.stderr
    assert subprocess.run(["diff", "-r", str(tmp_path / "src"), str(tmp_path / "copy")]).returncode == 0


# --- single-file downloads as scp makes them (issue 23, items 2 and 3) ---------------------

def tunnel_with_umask(umask, *args, cwd=None):
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    return subprocess.run(["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", str(TUNNEL), *args], cwd=cwd,
                          capture_output=True, env=env, timeout=30)


def test_download_into_a_folder_takes_the_remote_name(tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "x.conf").write_text("x")
    here = tmp_path / "here"
    here.mkdir()
    into_dot = tunnel_with_umask(0o022, "download", str(remote / "x.conf"), ".", cwd=here)
    assert into_dot.returncode == 0, into_dot.stderr
    assert (here / "x.conf").read_text() == "x"
    folder = tmp_path / "folder"
    folder.mkdir()
    into_folder = tunnel("download", str(remote / "x.conf"), str(folder))
    assert into_folder.returncode == 0, into_folder.stderr
    assert (folder / "x.conf").read_text() == "x"
    slash = tunnel("download", str(remote / "x.conf"), str(tmp_path / "missing") + "/")
    assert slash.returncode != 0 and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("remote_mode,umask,expected", [(0o600, 0o022, 0o600), (0o755, 0o022, 0o755),
                                                        (0o777, 0o027, 0o750), (0o4755, 0o022, 0o755)],
                         ids=["private-key", "program", "umask-applies", "no-setuid"])
def test_a_new_file_gets_the_remote_mode_masked_by_the_umask(tmp_path, remote_mode, umask, expected):
    remote = tmp_path / "remote"
    remote.write_text("content")
    os.chmod(remote, remote_mode)
    result = tunnel_with_umask(umask, "download", str(remote), str(tmp_path / "local"))
    assert result.returncode == 0, result.stderr
    assert os.stat(tmp_path / "local").st_mode & 0o7777 == expected


def test_an_existing_file_keeps_its_mode_and_p_keeps_the_remote_mode_and_mtime(tmp_path):
    remote = tmp_path / "remote"
    remote.write_text("new")
    os.chmod(remote, 0o755)
    os.utime(remote, ns=(1_000_000_000_000_000_007, 1_000_000_000_000_000_007))
    local = tmp_path / "local"
    local.write_text("old")
    os.chmod(local, 0o600)
    assert tunnel("download", str(remote), str(local)).returncode == 0
    assert local.read_text() == "new" and os.stat(local).st_mode & 0o7777 == 0o600
    assert os.stat(local).st_mtime_ns != 1_000_000_000_000_000_007
    preserved = tunnel("download", "-p", str(remote), str(local))
    assert preserved.returncode == 0, preserved.stderr
    assert os.stat(local).st_mode & 0o7777 == 0o755
    assert os.stat(local).st_mtime_ns == 1_000_000_000_000_000_007


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_r_shows_files_and_bytes_done_on_a_terminal_only(tmp_path, direction):
    a_tree(tmp_path / "src")
    (tmp_path / "dest").mkdir()
    args = (["upload", "-r", str(tmp_path / "src"), str(tmp_path / "dest")] if direction == "upload"
            else ["download", "-r", str(tmp_path / "src"), str(tmp_path / "dest")])
    import pty
    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(TUNNEL), *args], stderr=terminal, env=dict(os.environ, TUNNEL_VIA=str(AGENT)))
    os.close(terminal)
    shown = read_until_closed(controller)
    assert process.wait(timeout=30) == 0
    os.close(controller)
    assert b"3 files, 0.3 MB" in shown, shown
    (tmp_path / "dest2").mkdir()
    quiet = tunnel(*args[:-1], str(tmp_path / "dest2"))
    assert quiet.returncode == 0 and b"files" not in quiet.stderr, "never into a pipe"


def test_download_r_p_sets_each_folder_once_its_entries_are_in(tmp_path):
    """An empty folder beside a read-only one full of files: every folder ends with its
    source's mode and mtime (a folder finished too early got the time of the copy)."""
    source = tmp_path / "src"
    (source / "empty").mkdir(parents=True)
    (source / "read-only" / "inner").mkdir(parents=True)
    for index in range(30):
        (source / "read-only" / f"f{index}").write_text(str(index))
    (source / "read-only" / "inner" / "g").write_text("g")
    for index, path in enumerate([*sorted(source.rglob("*"), reverse=True), source]):
        ns = 1_600_000_000_000_000_000 + index * 1_000_000_007
        os.utime(path, ns=(ns, ns), follow_symlinks=False)
    os.chmod(source / "read-only", 0o555)
    result = tunnel("download", "-r", "-p", str(source), str(tmp_path / "copy"))
    assert result.returncode == 0, result.stderr
    for folder in ("", "empty", "read-only", "read-only/inner"):
        original, copy = os.lstat(source / folder), os.lstat(tmp_path / "copy" / folder)
        assert (copy.st_mtime_ns, copy.st_mode) == (original.st_mtime_ns, original.st_mode), folder
    assert len(os.listdir(tmp_path / "copy" / "read-only")) == 31

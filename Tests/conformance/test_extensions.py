"""The protocol extensions (issue 12, docs/protocol.md "Extensions"), end to end against
the static agent, driven by the independent Python codec in extensions.py."""
import os
import pwd
import subprocess
import threading
import time

import pytest

import extensions as x
from harness import AGENT, TEST_USER, processes_with, reference_command, wait_until


class Agent:
    """The agent through a pipe, with the extension codec."""

    def __init__(self, command=None):
        self.process = subprocess.Popen(command or [str(AGENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.reader = x.Reader(self.process.stdout)

    def send(self, *packets):
        self.process.stdin.write(b"".join(packets))
        self.process.stdin.flush()

    def ask(self, packet):
        self.send(packet)
        return self.reader.answer()

    def run_streamed(self, packet, *after):
        """Output pieces (stream, data) and the RunFinished fields."""
        self.send(packet, *after)
        pieces = []
        while True:
            name, fields = self.reader.answer()
            if name != "Output":
                assert name == "RunFinished", (name, fields)
                return pieces, fields
            pieces.append((fields["stream"], fields["data"]))

    def close(self):
        self.process.stdin.close()
        status = self.process.wait(timeout=30)
        stderr = self.process.stderr.read()
        return status, stderr


@pytest.fixture
def agent():
    session = Agent()
    yield session
    if session.process.poll() is None:
        session.process.kill()
        session.process.wait()


def joined(pieces, stream):
    return b"".join(data for number, data in pieces if number == stream)


def test_hello_lists_the_extensions(agent):
    name, fields = agent.ask(x.hello())
    assert name == "HelloResult" and fields["version"]
    assert set(fields["extensions"]) == {23, 25, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 40, 42, 43, 44, 45, 46, 47, 48, 49}


def test_the_reference_aborts_on_hello_which_is_how_clients_tell():
    reference = Agent(reference_command())
    reference.send(x.hello())
    assert reference.process.stdout.read() == b""
    status, stderr = reference.close()
    assert status != 0


# ---------------------------------------------------------------------------------------
# RunEx


def test_captured_run_is_like_process_run(agent):
    name, fields = agent.ask(x.run_ex(["sh", "-c", "cat; echo err >&2; exit 3"], stdin=b"in"))
    assert (name, fields) == ("RunFinished", dict(returncode=3, timed_out=False, stdout=b"in", stderr=b"err\n"))
    assert agent.ask(x.run_ex([]))[1]["message"] == "The command list is empty."
    assert agent.ask(x.run_ex(["a\0b"]))[0] == "InvalidField"
    missing = agent.ask(x.run_ex(["no-such-program"]))
    assert missing == ("OSError", dict(errno=2, strerror="No such file or directory",
                                       msg="[Errno 2] No such file or directory: 'no-such-program'"))
    assert agent.ask(x.run_ex(["true"], cwd=b"/nonexistent"))[1] == dict(field="cwd", message="The directory does not exist")


def test_streamed_output_arrives_while_the_command_runs(agent, tmp_path):
    """The second line waits for a file the test makes only after the first line arrived."""
    gate = tmp_path / "gate"
    agent.send(x.run_ex(["sh", "-c", f"echo a; while [ ! -e {gate} ]; do sleep 0.01; done; echo b >&2"], stream=True))
    assert agent.reader.answer() == ("Output", dict(stream=1, data=b"a\n"))
    gate.touch()
    assert agent.reader.answer() == ("Output", dict(stream=2, data=b"b\n"))
    assert agent.reader.answer() == ("RunFinished", dict(returncode=0, timed_out=False, stdout=None, stderr=None))


def test_input_and_close_input(agent):
    pieces, end = agent.run_streamed(x.run_ex(["cat"], stream=True, stdin=b"first "),
                                     x.input_data(b"second "), x.input_data(b"third\n"), x.close_input())
    assert joined(pieces, 1) == b"first second third\n" and end["returncode"] == 0
    # Without stdin the child reads /dev/null.
    assert agent.run_streamed(x.run_ex(["cat"], stream=True))[1]["returncode"] == 0


def test_signal_reaches_the_process_group(agent):
    script = 'trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.01; done'
    agent.send(x.run_ex(["sh", "-c", script], stream=True))
    assert agent.reader.answer() == ("Output", dict(stream=1, data=b"ready\n"))
    agent.send(x.signal(2))
    pieces, end = agent.run_streamed(b"")
    assert joined(pieces, 1) == b"got INT\n" and end["returncode"] == 5


def test_the_time_limit_ends_a_tree_that_ignores_sigterm(agent):
    marker = f"{900 + os.getpid() % 100}.17"
    script = f"trap '' TERM; (trap '' TERM; sleep {marker}) & sleep {marker}; wait"
    start = time.monotonic()
    name, fields = agent.ask(x.run_ex(["sh", "-c", script], timeout_ms=300, grace_ms=300))
    assert name == "RunFinished" and fields["timed_out"] and fields["returncode"] == -9
    assert time.monotonic() - start < 60
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


def test_a_finished_run_is_not_timed_out(agent):
    assert agent.ask(x.run_ex(["true"], timeout_ms=60000))[1]["timed_out"] is False


def test_environments(agent):
    def env(**options):
        name, fields = agent.ask(x.run_ex(["env"], **options))
        assert name == "RunFinished", fields
        return sorted(fields["stdout"].decode().splitlines())

    assert env(environment=x.EMPTY_ENV) == []
    assert env(environment=x.EMPTY_ENV, set_environment=["A=1", "B=2", "A=3", "B"]) == ["A=3"]
    assert "TUNNEL_TEST_MARK=yes" in env(set_environment=["TUNNEL_TEST_MARK=yes"])
    assert not any(line.startswith("PATH=") for line in env(set_environment=["PATH"]))
    assert agent.ask(x.run_ex(["env"], set_environment=["=x"]))[0] == "InvalidField"
    # An empty environment still finds programs (on the default PATH).
    assert agent.ask(x.run_ex(["true"], environment=x.EMPTY_ENV))[1]["returncode"] == 0


def test_login_environment_for_another_user(agent, unprivileged_user):
    if os.getuid() != 0 or unprivileged_user is None:
        pytest.skip("needs root and the test user")
    entry = pwd.getpwnam(TEST_USER)
    name, fields = agent.ask(x.run_ex(["sh", "-c", "env; pwd"], environment=x.LOGIN_ENV, user=TEST_USER))
    assert name == "RunFinished", fields
    lines = fields["stdout"].decode().splitlines()
    assert f"HOME={entry.pw_dir}" in lines and f"USER={TEST_USER}" in lines and f"LOGNAME={TEST_USER}" in lines
    assert f"SHELL={entry.pw_shell}" in lines
    assert "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games" in lines
    # Its home may not exist (the test user has none): then "/", as su - would fail to change.
    assert lines[-1] in (entry.pw_dir, "/")


def test_streamed_output_keeps_the_agent_small_when_the_client_reads_slowly(agent):
    """1 GiB from the child; the client takes its time at first. The agent stops reading
    the pipes while its window is full: its memory stays flat."""
    size = 1 << 30
    agent.send(x.run_ex(["head", "-c", str(size), "/dev/zero"], stream=True))
    status = f"/proc/{agent.process.pid}/status"
    received, peak = 0, 0
    while True:
        name, fields = agent.reader.answer()
        if name == "RunFinished":
            break
        received += len(fields["data"])
        if received < (32 << 20):
            time.sleep(0.002)   # slow at first: the child is far ahead
        with open(status) as handle:
            rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        peak = max(peak, rss)
    assert received == size and fields["returncode"] == 0
    assert peak < 16 * 1024, f"agent RSS reached {peak} KiB"


def test_exit_during_a_run_ends_it_and_the_session(agent):
    marker = f"{700 + os.getpid() % 100}.23"
    agent.send(x.run_ex(["sh", "-c", f"echo go; sleep {marker}"], stream=True))
    assert agent.reader.answer()[0] == "Output"
    agent.send(x.packet(3))   # Exit
    status, _ = agent.close()
    assert status == 0
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


def test_another_request_during_a_run_is_a_protocol_error(agent):
    agent.send(x.run_ex(["sleep", "30"], stream=True), x.packet(2))   # CheckAlive
    status, stderr = agent.close()
    assert status == 3 and b"while a RunEx was running" in stderr


def test_controls_after_the_run_are_ignored(agent):
    agent.run_streamed(x.run_ex(["true"], stream=True))
    agent.send(x.input_data(b"late"), x.close_input(), x.signal(15))
    assert agent.ask(x.hello())[0] == "HelloResult"


def test_the_client_going_away_ends_a_streamed_run():
    marker = f"{600 + os.getpid() % 100}.29"
    session = Agent()
    session.send(x.run_ex(["sh", "-c", f"echo go; sleep {marker}"], stream=True))
    assert session.reader.answer()[0] == "Output"
    session.process.stdout.close()
    session.process.stdin.close()
    session.process.wait(timeout=30)
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


# ---------------------------------------------------------------------------------------
# Files


def test_tree_operations(agent, tmp_path):
    root = bytes(tmp_path)
    assert agent.ask(x.make_dir(root + b"/a/b/c", mode="750", parents=True)) == ("Ok", {})
    assert (tmp_path / "a/b/c").stat().st_mode & 0o777 == 0o750, "the mode is exact, not masked"
    assert agent.ask(x.make_dir(root + b"/a/b/c", parents=True)) == ("Ok", {})
    exists = agent.ask(x.make_dir(root + b"/a/b/c"))
    assert exists[0] == "OSError" and exists[1]["errno"] == 17
    assert agent.ask(x.make_dir(root + b"/a/bad", mode="9"))[1] == dict(field="mode", message="Invalid value '9': Must be in octal format.")
    name = b"/a/\xff\xfe-not-utf8"
    (tmp_path / os.fsdecode(name[1:])).write_bytes(b"x")
    assert agent.ask(x.symlink(b"../elsewhere", root + b"/a/link")) == ("Ok", {})
    assert agent.ask(x.read_link(root + b"/a/link")) == ("LinkTarget", dict(target=b"../elsewhere"))
    name_, listing = agent.ask(x.list_dir(root + b"/a", with_status=True))
    assert name_ == "DirEntries" and listing["last"]
    entries = {entry[0]: entry for entry in listing["entries"]}
    assert set(entries) == {b"b", b"link", b"\xff\xfe-not-utf8"}
    assert entries[b"link"][1] == "link" and entries[b"b"][2]["mode"] == 0o755
    assert entries[b"\xff\xfe-not-utf8"][2]["size"] == 1
    assert agent.ask(x.rename(root + b"/a", root + b"/z")) == ("Ok", {})
    (tmp_path / "taken").mkdir()
    refused = agent.ask(x.rename(root + b"/z", root + b"/taken", no_replace=True))
    assert refused[0] == "OSError" and refused[1]["errno"] == 17
    assert agent.ask(x.set_metadata(root + b"/z/b", mode="700", mtime=1_000_000_000_123_456_789)) == ("Ok", {})
    status = agent.ask(x.stat_path(root + b"/z/b"))[1]
    assert status["mode"] == 0o700 and status["mtime"] == 1_000_000_000_123_456_789
    on_link = agent.ask(x.set_metadata(root + b"/z/link", follow=False, mode="600"))
    assert on_link[0] == "OSError" and on_link[1]["errno"] == 95   # Linux cannot chmod a symlink
    assert agent.ask(x.set_metadata(root + b"/z/link", follow=False, mtime=0)) == ("Ok", {})
    assert os.lstat(tmp_path / "z/link").st_mtime == 0
    not_empty = agent.ask(x.remove(root + b"/z"))
    assert not_empty[0] == "OSError" and not_empty[1]["errno"] == 39
    assert agent.ask(x.remove(root + b"/z/link")) == ("Ok", {})
    assert agent.ask(x.remove(root + b"/z", recursive=True)) == ("Ok", {})
    missing = agent.ask(x.stat_path(root + b"/z"))
    assert missing[0] == "OSError" and missing[1]["errno"] == 2
    assert agent.ask(x.remove(b"/"))[1]["errno"] == 22


def test_recursive_remove_never_follows_a_symlink_out(agent, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "escape").symlink_to(outside)
    (tree / "escape-too").symlink_to(outside)
    assert agent.ask(x.remove(bytes(tree), recursive=True)) == ("Ok", {})
    assert not tree.exists() and (outside / "keep").read_text() == "keep"


def test_a_huge_folder_is_listed_in_chunks(agent, tmp_path):
    for index in range(1500):
        (tmp_path / f"f{index}").touch()
    agent.send(x.list_dir(bytes(tmp_path)))
    chunks = []
    while True:
        name, fields = agent.reader.answer()
        chunks.append(len(fields["entries"]))
        if fields["last"]:
            break
    assert sum(chunks) == 1500 and len(chunks) >= 3


def test_list_of_a_missing_folder(agent, tmp_path):
    name, fields = agent.ask(x.list_dir(bytes(tmp_path / "missing")))
    assert name == "OSError" and fields["msg"].startswith("[Errno 2] No such file or directory")


def test_time_limits_of_any_size(agent):
    """Found by the session fuzzer: a deadline beyond Int64 trapped the agent."""
    assert agent.ask(x.run_ex(["true"], timeout_ms=2**64 - 1, grace_ms=2**64 - 1))[1]["returncode"] == 0


def test_the_end_of_the_clients_input_ends_the_commands_input():
    """Found by the session fuzzer: a streamed `cat` whose client closed its side without
    CloseInput waited forever."""
    session = Agent()
    session.send(x.run_ex(["cat"], stream=True, stdin=b"abc"))
    session.process.stdin.close()
    assert session.reader.answer() == ("Output", dict(stream=1, data=b"abc"))
    assert session.reader.answer()[0] == "RunFinished"
    assert session.process.wait(timeout=30) == 0

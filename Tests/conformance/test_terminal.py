"""`tunnel run -t` and `tunnel shell` (issue 23): the command on a remote pseudo-terminal,
driven here from a real local pseudo-terminal (python's pty module), as a user's terminal
would: keys in, output out, window changes, Ctrl-C as a byte, the exit status, and the
local terminal's mode put back afterwards."""
import fcntl
import os
import pty
import pwd
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import threading
from pathlib import Path

import pytest

import extensions as x
from harness import AGENT, ROOT, read_what_is_left

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
# Generous: only a hang ever reaches them, and then the test fails instead of waiting forever.
PATIENCE = 30


class Terminal:
    """`tunnel ARGS` on a new local pty of 30 rows x 100 columns, as its controlling terminal."""

    def __init__(self, *args, via=str(AGENT), env=None):
        self.master, self.slave = pty.openpty()
        self.resize(30, 100)
        self.mode_before = self.mode()
        command = [str(TUNNEL), *(["--via", via] if via else []), *args]
        self.process = subprocess.Popen(command, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                        start_new_session=True, preexec_fn=self._take_terminal,
                                        env=dict(os.environ, TERM="xterm", **(env or {})))
        self.output = b""

    def _take_terminal(self):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def mode(self):
        """The terminal's mode as `stty -g` prints it."""
        return subprocess.run(["stty", "-g"], stdin=self.slave, capture_output=True, check=True).stdout

    def resize(self, rows, columns):
        """As a terminal window does: the kernel sends tunnel SIGWINCH."""
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, keys):
        os.write(self.master, keys)

    def read_until(self, pattern):
        """Reads until `pattern` (a regex of bytes) appears in the output; fails on a hang."""
        while not re.search(pattern, self.output):
            ready, _, _ = select.select([self.master], [], [], PATIENCE)
            assert ready, f"no {pattern!r} in {self.output!r}"
            try:
                piece = os.read(self.master, 4096)
            except OSError:   # EIO: every process on the terminal has closed it
                piece = b""
            assert piece, f"no {pattern!r} before the end: {self.output!r}"
            self.output += piece
        return self.output

    def finish(self):
        """Waits for tunnel's end, reading what is left; returns its exit status."""
        status = self.process.wait(timeout=PATIENCE)
        self.output += read_what_is_left(self.master)
        return status

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminal():
    opened = []

    def start(*args, **options):
        opened.append(Terminal(*args, **options))
        return opened[-1]
    yield start
    for each in opened:
        each.close()


def test_the_command_gets_a_terminal_of_the_local_size_and_its_status_passes(terminal):
    term = terminal("run", "-t", "--", "sh", "-c", 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo on-a-tty; '
                    'stty size; echo "TERM=$TERM"; exit 7')
    assert term.finish() == 7, term.output
    assert re.search(rb"/dev/pts/\d+\r\non-a-tty\r\n30 100\r\nTERM=xterm\r\n", term.output), term.output
    # The local terminal was raw while the command ran, and is as it was now.
    assert term.mode() == term.mode_before


def test_a_window_change_reaches_the_command(terminal):
    term = terminal("run", "-t", "--", "sh", "-c", "echo ready; read line; stty size")
    term.read_until(rb"ready")
    term.resize(40, 120)
    # The key comes after the change: WindowSize reaches the agent before the Input.
    term.type(b"\r")
    term.read_until(rb"40 120\r\n")
    assert term.finish() == 0
    assert term.mode() == term.mode_before


def test_ctrl_c_is_a_byte_that_the_remote_terminal_makes_a_sigint(terminal):
    term = terminal("run", "-t", "--", "sh", "-c", 'trap "echo trapped; exit 5" INT; echo ready; '
                    "while :; do sleep 1; done")
    term.read_until(rb"ready")
    term.type(b"\x03")
    term.read_until(rb"trapped")
    # The trap ran on the target and its status came back; tunnel itself was not interrupted.
    assert term.finish() == 5, term.output
    assert term.mode() == term.mode_before


def test_keys_are_the_remote_terminals_input(terminal):
    term = terminal("run", "-t", "--", "sh", "-c", 'echo ready; read answer; echo "got <$answer>"')
    term.read_until(rb"ready")
    term.type(b"hello\r")
    # Echoed by the remote pty (the local one is raw), then read by the command as a line.
    term.read_until(rb"got <hello>")
    assert term.finish() == 0


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_the_local_terminal_is_restored_after_a_signal(terminal, number):
    term = terminal("run", "-t", "--", "sh", "-c", "echo ready; exec sleep 100")
    term.read_until(rb"ready")
    assert term.mode() != term.mode_before   # raw now
    term.process.send_signal(number)
    # Passed on to the remote command, which dies of it: 128+N, and the mode is back.
    assert term.finish() == 128 + number
    assert term.mode() == term.mode_before


def test_without_a_terminal_t_says_so_and_runs_without():
    result = subprocess.run([str(TUNNEL), "--via", str(AGENT), "run", "-t", "--", "sh", "-c",
                             "[ -t 0 ] || echo no-tty; exit 3"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=PATIENCE)
    assert (result.returncode, result.stdout) == (3, b"no-tty\n"), result.stderr
    assert b"pseudo-terminal will not be allocated because stdin is not a terminal" in result.stderr


def test_shell_needs_a_terminal():
    result = subprocess.run([str(TUNNEL), "--via", str(AGENT), "shell"], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=PATIENCE)
    assert result.returncode == 2 and b"shell needs a terminal" in result.stderr, result.stderr


def test_shell_is_the_users_login_shell(terminal):
    entry = pwd.getpwuid(os.getuid())
    term = terminal("shell")
    term.type(b"printf 'home=%s shell=%s\\n' \"$HOME\" \"$SHELL\"; [ -t 0 ] && echo on-a-tty; exit 3\r")
    # The typed line is echoed with '%s' in it: only the command's output holds the values.
    term.read_until(f"home={entry.pw_dir} shell={entry.pw_shell or '/bin/sh'}".encode())
    term.read_until(rb"on-a-tty")
    assert term.finish() == 3, term.output
    assert term.mode() == term.mode_before


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_a_root_without_dev_ptmx_is_refused_clearly(terminal, tmp_path):
    # The agent alone in a folder: no /dev at all, as in a bare container.
    shutil.copy(AGENT, tmp_path / "tunnel-dispatcher")
    term = terminal("run", "-t", "--", "true", via=f"chroot {tmp_path} /tunnel-dispatcher")
    status = term.finish()
    assert status == 1, term.output
    assert b"'/dev/ptmx': No such file or directory" in term.output
    assert term.mode() == term.mode_before


def test_the_child_setup_is_runs_own_on_a_terminal(terminal, unprivileged_user):
    if os.geteuid() != 0 or unprivileged_user is None:
        pytest.skip("switching user needs root")
    term = terminal("run", "-t", "--user", unprivileged_user, "--umask", "027", "--cwd", "/tmp", "--", "sh", "-c",
                    'id -un; pwd; umask; ls -ln "$(tty)"; ls /proc/self/fd')
    assert term.finish() == 0, term.output
    uid = pwd.getpwnam(unprivileged_user).pw_uid
    lines = term.output.decode().split("\r\n")
    assert lines[:3] == [unprivileged_user, "/tmp", "0027"], lines
    # The terminal was handed to the user (as grantpt does); the child holds fds 0-2 only
    # (3 is ls's own directory).
    assert lines[3].split()[2] == str(uid), lines
    assert lines[4].split() in (["0", "1", "2", "3"], ["0", "1", "2"]), lines


# ---------------------------------------------------------------------------------------
# The packets themselves (docs/protocol.md, "RunTerminal")

from test_extensions import Agent, agent, joined  # noqa: E402,F401  (the fixture, shared)


def test_a_terminal_run_is_always_streamed(agent):  # noqa: F811
    assert agent.ask(x.run_terminal(24, 80, ["true"], stream=False)) == (
        "InvalidField", dict(field="stream", message="A terminal run is always streamed."))
    # A window size outside a terminal run is read and ignored.
    agent.send(x.window_size(10, 10))
    assert agent.ask(x.hello())[0] == "HelloResult"


def test_stdout_and_stderr_are_one_stream_and_sizes_apply_in_order(agent):  # noqa: F811
    agent.send(x.run_terminal(24, 80, ["sh", "-c", "stty size; echo err >&2; read line; stty size; exit 4"]))
    first = b""
    while b"err\r\n" not in first:
        name, fields = agent.reader.answer()
        assert (name, fields["stream"]) == ("Output", 1), (name, fields)
        first += fields["data"]
    assert first == b"24 80\r\nerr\r\n"
    # The size changes before the line arrives; 70000 rows do not fit the kernel's 16 bits.
    pieces, end = agent.run_streamed(x.window_size(70000, 12), x.input_data(b"\n"))
    assert joined(pieces, 2) == b"" and end["returncode"] == 4
    assert joined(pieces, 1) == b"\r\n65535 12\r\n"


def test_a_process_left_holding_the_terminal_does_not_keep_the_run(agent):  # noqa: F811
    # It ignores the SIGHUP the terminal's end sends; sshd ends such a session all the same.
    agent.send(x.run_terminal(24, 80, ["sh", "-c", 'trap "" HUP; sleep 1000 & echo "pid=$!"']))
    answers = []
    reading = threading.Thread(target=lambda: answers.append(agent.run_streamed(b"")), daemon=True)
    reading.start()
    reading.join(PATIENCE)   # a hang guard only: the run ends as soon as sh has
    assert answers, "the run waited for the process left in the background"
    pieces, end = answers[0]
    os.kill(int(joined(pieces, 1).split(b"pid=")[1].split()[0]), signal.SIGKILL)
    assert end["returncode"] == 0


# ---------------------------------------------------------------------------------------
# In a container whose only program is busybox (test_launch.py's podman fixture)

from test_launch import USER, account, podman, ssh_args, sshd  # noqa: E402,F401  (fixtures shared with test_launch.py)


def test_a_terminal_in_a_busybox_container(terminal, podman):  # noqa: F811
    box = podman["busybox"]
    term = terminal("--docker", box, "--engine", "podman", "run", "-t", "--", "sh", "-c",
                    "[ -t 0 ] && echo on-a-tty; stty size; read line; stty size; exit 9",
                    via=None, env={"TUNNEL_AGENT_DIR": str(ROOT / "dist")})
    term.read_until(rb"on-a-tty\r\n30 100\r\n")
    term.resize(33, 111)
    term.type(b"\r")
    term.read_until(rb"33 111\r\n")
    assert term.finish() == 9, term.output
    assert term.mode() == term.mode_before


def test_a_terminal_in_a_container_whose_only_program_is_the_agent(terminal, podman):  # noqa: F811
    # The agent-only image holds nothing but /tunnel-dispatcher: it is also what runs on the pty.
    box = podman["agent-only"]
    term = terminal("run", "-t", "--", "/tunnel-dispatcher", "--version",
                    via=f"{shutil.which('podman')} exec -i {box} /tunnel-dispatcher")
    assert term.finish() == 0, term.output
    assert term.output.startswith(b"tunnel-dispatcher "), term.output
    assert term.mode() == term.mode_before


def test_shell_in_a_container_whose_user_has_no_passwd_entry(terminal, podman):  # noqa: F811
    # The busybox image has no /etc/passwd and runs as uid 1000: docker exec -it box sh works
    # there, and so does tunnel shell, with /bin/sh and a note.
    term = terminal("--docker", podman["busybox"], "--engine", "podman", "shell",
                    via=None, env={"TUNNEL_AGENT_DIR": str(ROOT / "dist")})
    term.type(b"[ -t 0 ] && echo on-a-tty; id -u; exit 6\r")
    term.read_until(rb"on-a-tty\r\n1000\r\n")
    assert term.finish() == 6, term.output
    assert b"has no passwd entry: starting /bin/sh" in term.output
    assert term.mode() == term.mode_before


# ---------------------------------------------------------------------------------------
# Over the real sshd (test_launch.py's fixtures), as an ordinary account


def test_shell_and_ctrl_c_over_ssh(terminal, sshd, account):  # noqa: F811
    over_ssh = dict(via=None, env={"TUNNEL_AGENT_DIR": str(ROOT / "dist")})
    shell = terminal(*ssh_args(sshd), "shell", **over_ssh)
    shell.type(b"printf 'user=%s\\n' \"$(id -un)\"; [ -t 0 ] && echo on-a-tty; exit 4\r")
    shell.read_until(f"user={USER}\r\non-a-tty\r\n".encode())
    assert shell.finish() == 4, shell.output
    assert shell.mode() == shell.mode_before
    run = terminal(*ssh_args(sshd), "run", "-t", "--", "sh", "-c",
                   'trap "echo trapped; exit 5" INT; echo ready; while :; do sleep 1; done', **over_ssh)
    run.read_until(rb"ready")
    run.type(b"\x03")
    run.read_until(rb"trapped")
    assert run.finish() == 5, run.output
    assert run.mode() == run.mode_before

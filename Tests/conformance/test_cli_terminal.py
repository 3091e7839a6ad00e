"""tunnel in a real terminal (issue 23 item 1, issue 20 item 6).

Each test starts tunnel as the foreground process of a fresh pseudo-terminal (python's pty
module), so that a Ctrl-C typed there is the line discipline's SIGINT to the terminal's
foreground process group, exactly as in an interactive shell. The Ctrl-C tests run over
the real sshd and podman of test_launch.py (root only: they skip with the reason elsewhere)."""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import processes_with, read_what_is_left
from test_launch import DIST, TUNNEL, ensure_account, podman, sshd, ssh_args  # noqa: F401 (fixtures)

# An account of these tests' own: test_launch.py's is changed (its shell, its home) by tests
# that may run at the same time on a shared machine.
USER = "tunnel-terminal"


@pytest.fixture
def account(sshd):
    entry = ensure_account(USER, f"/home/{USER}")
    home = Path(entry.pw_dir)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    yield home
    shutil.rmtree(home, ignore_errors=True)

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


class Terminal:
    """`argv` started as the session leader and foreground process group of a new pty."""

    def __init__(self, argv, env=None):
        environment = dict(os.environ, TUNNEL_AGENT_DIR=str(DIST), **(env or {}))
        self.pid, self.master = pty.fork()
        if self.pid == 0:   # the child: the pty is its controlling terminal, its group the foreground
            try:
                os.execve(argv[0], argv, environment)
            finally:
                os._exit(127)
        self.seen = b""

    def read_until(self, text, timeout=30):
        """Everything the terminal showed so far, once `text` is part of it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal showed {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    piece = os.read(self.master, 4096)
                except OSError:   # EIO: every process holding the terminal has ended
                    piece = b""
                assert piece, f"the terminal closed before {text!r}; it showed {self.seen!r}"
                self.seen += piece
        return self.seen

    def type(self, keys):
        os.write(self.master, keys)

    def wait(self, timeout=30):
        """The exit status (128+N for signal N), once the rest of the output is read."""
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, f"still running; the terminal showed {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass
        self.seen += read_what_is_left(self.master)
        os.close(self.master)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def nothing_left_with(marker):
    for _ in range(250):
        if not processes_with(marker):
            return True
        time.sleep(0.02)
    return processes_with(marker) == []


def trapping_command(marker, first_int="kill $!; echo trapped; exit 7"):
    """A remote sh whose trap says that it ran; `sleep <marker>` marks its processes. sh
    waits with the `wait` builtin, which a trapped signal interrupts at once (a foreground
    sleep would hold the trap back until it ended, if the signal came before its fork)."""
    return ["sh", "-c", f"trap '{first_int}' INT; sleep {marker} & echo ready; while :; do wait; done"]


def unique_marker(base):
    return f"{base + os.getpid() % 100}.{int(time.time() * 1000) % 89 + 10}"


# ---------------------------------------------------------------------------------------
# Ctrl-C reaches the remote command (issue 23 item 1)


def test_ctrl_c_in_a_terminal_runs_the_remote_trap_over_ssh(sshd, account):
    marker = unique_marker(600)
    term = Terminal([str(TUNNEL), *ssh_args(sshd, USER), "run", "--", *trapping_command(marker)])
    term.read_until(b"ready")
    term.type(b"\x03")
    status = term.wait()
    assert b"trapped" in term.seen, term.seen
    assert status == 7, term.seen
    assert nothing_left_with(marker)


def test_a_second_ctrl_c_ends_a_command_that_ignores_the_first(sshd, account):
    marker = unique_marker(700)
    term = Terminal([str(TUNNEL), *ssh_args(sshd, USER), "run", "--", *trapping_command(marker, "echo ignored")])
    term.read_until(b"ready")
    term.type(b"\x03")
    term.read_until(b"ignored")
    term.type(b"\x03")
    assert term.wait() == 128 + signal.SIGKILL, term.seen
    assert nothing_left_with(marker)


def test_ctrl_c_in_a_terminal_runs_the_remote_trap_in_a_podman_container(podman):
    marker = unique_marker(800)
    term = Terminal([str(TUNNEL), "--docker", podman["busybox"], "--engine", "podman", "run", "--",
                     *trapping_command(marker)])
    term.read_until(b"ready")
    term.type(b"\x03")
    status = term.wait()
    assert b"trapped" in term.seen and status == 7, term.seen
    assert nothing_left_with(marker)


def test_ssh_can_still_ask_on_the_terminal_before_the_agent_starts(sshd, account):
    """The host-key question needs the terminal: ssh gets it while it connects, tunnel takes
    it back once the agent answers (then Ctrl-C is tunnel's again)."""
    known_hosts = Path(tempfile.mkdtemp(prefix="tunnel-known-")) / "known_hosts"
    options = [f"IdentityFile={sshd.key}", "StrictHostKeyChecking=ask", f"UserKnownHostsFile={known_hosts}",
               "LogLevel=ERROR"]
    marker = unique_marker(900)
    term = Terminal([str(TUNNEL), "--ssh", f"{USER}@127.0.0.1:{sshd.port}",
                     *[word for option in options for word in ("--ssh-option", option)],
                     "run", "--", *trapping_command(marker)])
    term.read_until(b"(yes/no")
    term.type(b"yes\n")
    term.read_until(b"ready")
    assert known_hosts.read_text().strip(), "ssh did not record the answer"
    term.type(b"\x03")
    assert term.wait() == 7 and b"trapped" in term.seen, term.seen
    assert nothing_left_with(marker)


def test_ctrl_c_outside_a_streamed_run_ends_the_transport_too(sshd, account):
    """Captured output (ProcessRun) cannot pass a signal on: tunnel dies of the Ctrl-C, and
    its transport, in a group of its own now, must not outlive it."""
    marker = unique_marker(500)
    term = Terminal([str(TUNNEL), *ssh_args(sshd, USER), "run", "--no-stream", "--", "sh", "-c",
                     f"sleep {marker}; echo never"])
    for _ in range(500):
        if any(Path(f"/proc/{pid}/comm").read_text().strip() == "sleep" for pid in processes_with(marker)):
            break
        time.sleep(0.02)
    term.type(b"\x03")
    assert term.wait() == 128 + signal.SIGINT, term.seen
    assert b"never" not in term.seen
    assert nothing_left_with(marker)


# ---------------------------------------------------------------------------------------
# Text from the target is escaped on a terminal (issue 20 item 6)

HOSTILE = b"evil\x1b]0;owned\x07\x1b[2J\x9b1m\xc2\x9bname\\"
HOSTILE_SHOWN = b"evil\\033]0;owned\\a\\033[2J\\2331m\\302\\233name\\\\"


def local_agent_tunnel(*args):
    from harness import AGENT
    return [str(TUNNEL), "--via", str(AGENT), *args]


@pytest.fixture
def hostile_folder(tmp_path):
    """A folder holding a file and a symlink whose names (and the link's target) carry
    escape sequences, a lone C1 CSI byte (not UTF-8) and an encoded one (U+009B)."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    os.close(os.open(bytes(folder) + b"/" + HOSTILE, os.O_CREAT | os.O_WRONLY, 0o644))
    os.symlink(HOSTILE + b"-target", bytes(folder) + b"/link")
    return folder


def test_names_and_link_targets_are_escaped_on_a_terminal(hostile_folder):
    term = Terminal(local_agent_tunnel("ls", "-l", str(hostile_folder)))
    assert term.wait() == 0, term.seen
    assert b"\x1b" not in term.seen and b"\x9b" not in term.seen and b"\x07" not in term.seen, term.seen
    assert HOSTILE_SHOWN in term.seen
    assert b"link -> " + HOSTILE_SHOWN + b"-target" in term.seen


def test_names_stay_raw_in_a_pipe(hostile_folder):
    result = subprocess.run(local_agent_tunnel("ls", str(hostile_folder)), capture_output=True)
    assert result.returncode == 0 and HOSTILE + b"\n" in result.stdout


HOSTILE_AGENT = """
import sys
from fora.connectors import tunnel_dispatcher as td
conn = td.Connection(sys.stdin.buffer, sys.stdout.buffer)
while True:
    header = conn.read(4)
    if len(header) < 4:
        break
    packet = td.packet_deserializers[int.from_bytes(header, "big")](conn)
    if isinstance(packet, td.PacketCheckAlive):
        conn.write_packet(td.PacketAck())
    elif isinstance(packet, td.PacketExit):
        break
    else:
        conn.write_packet(td.PacketOSError(errno=2, strerror="No such file", msg="gone: \x1b]0;owned\x07\x1b[2J\x9b"))
    conn.flush()
"""


def test_error_text_from_a_hostile_agent_is_escaped_on_a_terminal(tmp_path):
    """A compromised target controls the agent's error text: raw ESC, BEL and CSI."""
    agent = tmp_path / "hostile_agent.py"
    agent.write_text(HOSTILE_AGENT)
    term = Terminal([str(TUNNEL), "--compat", "--via", f"{sys.executable} {agent}", "getenv", "HOME"])
    assert term.wait() == 1, term.seen
    assert b"gone: \\033]0;owned\\a\\033[2J\\302\\233" in term.seen, term.seen
    assert b"\x1b" not in term.seen and b"\x07" not in term.seen


def test_getenv_values_are_escaped_on_a_terminal():
    term = Terminal(local_agent_tunnel("getenv", "TUNNEL_TEST_HOSTILE"), env={"TUNNEL_TEST_HOSTILE": "a\x1b[31mb"})
    assert term.wait() == 0, term.seen
    assert b"a\\033[31mb" in term.seen and b"\x1b" not in term.seen, term.seen


@pytest.fixture
def hostile_passwd_agent(tmp_path):
    """An agent that sees a passwd whose account `hostile` has ESC, DEL and U+009B (a C1
    CSI) in its GECOS field: bind-mounted over /etc/passwd in a mount namespace of its own,
    so that the machine's accounts stay untouched."""
    from harness import AGENT
    if os.getuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private mount namespace")
    passwd = tmp_path / "passwd"
    passwd.write_bytes(Path("/etc/passwd").read_bytes() + "hostile:x:4242:0:x\x1b[2J\x7f\u009by:/:/bin/sh\n".encode())
    wrapper = tmp_path / "agent-with-passwd"
    wrapper.write_text(f"#!/bin/sh\nexec unshare -m sh -c 'mount --bind {passwd} /etc/passwd && exec {AGENT}'\n")
    wrapper.chmod(0o755)
    return str(wrapper)


def test_json_escapes_controls_wherever_it_goes(hostile_passwd_agent):
    """DEL and C1 controls too, which JSON itself would allow raw."""
    piped = subprocess.run([str(TUNNEL), "--via", hostile_passwd_agent, "user", "--json", "hostile"], capture_output=True)
    assert piped.returncode == 0, piped.stderr
    assert b'"gecos": "x\\u001b[2J\\u007f\\u009by"' in piped.stdout, piped.stdout
    assert json.loads(piped.stdout)["gecos"] == "x\x1b[2J\x7f\u009by"
    term = Terminal([str(TUNNEL), "--via", hostile_passwd_agent, "user", "hostile"])
    assert term.wait() == 0, term.seen
    assert b"gecos=x\\033[2J\\177\\302\\233y" in term.seen, term.seen


# ---------------------------------------------------------------------------------------
# Messages about the account (issue 23 item 9)


def test_a_nologin_account_is_named_as_such(sshd):
    ensure_account("tunnel-nologin", "/home/tunnel-nologin", shell="/usr/sbin/nologin")
    result = subprocess.run([str(TUNNEL), *ssh_args(sshd, "tunnel-nologin"), "ping"], capture_output=True,
                            env=dict(os.environ, TUNNEL_AGENT_DIR=str(DIST)), timeout=60)
    assert result.returncode == 255
    assert b"login shell is nologin" in result.stderr, result.stderr
    assert b"startup files print text" not in result.stderr


def test_download_r_reports_on_hostile_names_escaped_on_a_terminal(tmp_path):
    """download -r's own lines about a target's entries (a fifo skipped, an entry whose kind
    changed) name them: a compromised target's escape sequences must not reach the terminal."""
    fake_agent = Path(__file__).with_name("fake_agent.py")
    term = Terminal([str(TUNNEL), "--via", f"{sys.executable} {fake_agent} escapes", "download", "-r", "/t",
                     str(tmp_path / "dest")])
    assert term.wait() == 23, term.seen   # -r copied what it could, and named the rest
    assert b"skipping /t/\\033[2Jfifo" in term.seen, term.seen
    assert b"/t/\\033]0;owned\\afile was listed as file" in term.seen, term.seen
    assert b"\x1b" not in term.seen and b"\x07" not in term.seen, term.seen


def test_download_r_local_failure_on_a_hostile_name_is_escaped_on_a_terminal(tmp_path):
    """A name the local file system refuses (too long) is named in tunnel's own error."""
    fake_agent = Path(__file__).with_name("fake_agent.py")
    term = Terminal([str(TUNNEL), "--via", f"{sys.executable} {fake_agent} long-escape", "download", "-r", "/t",
                     str(tmp_path / "dest")])
    assert term.wait() != 0, term.seen
    assert b"\\033]0;owned\\annn" in term.seen and b"File name too long" in term.seen, term.seen
    assert b"\x1b" not in term.seen and b"\x07" not in term.seen, term.seen


def test_a_run_the_target_could_not_start_is_reported_escaped_on_a_terminal():
    """The Failure of a RunEx's execute step: its message is the target's text."""
    fake_agent = Path(__file__).with_name("fake_agent.py")
    term = Terminal([str(TUNNEL), "--via", f"{sys.executable} {fake_agent} run-failure", "run", "--", "prog"])
    assert term.wait() == 127, term.seen
    assert b"'\\033]0;owned\\a': No such file or directory" in term.seen, term.seen
    assert b"\x1b" not in term.seen and b"\x07" not in term.seen, term.seen


def test_the_bootstrap_s_notes_shown_by_v_are_escaped_on_a_terminal(tmp_path):
    """-v shows what the target's bootstrap says (a folder it chose): a hostile target's text."""
    engine = tmp_path / "engine"
    engine.write_text("#!/bin/sh\nprintf 'tunnel-bootstrap note \\033]0;owned\\007 chosen\\n'\n"
                      "printf 'tunnel-bootstrap error stop\\n'\n")
    engine.chmod(0o755)
    term = Terminal([str(TUNNEL), "-v", "--docker", "box", "--engine", str(engine), "getenv", "HOME"])
    assert term.wait() != 0, term.seen
    assert b"on the target: \\033]0;owned\\a chosen" in term.seen, term.seen
    assert b"\x1b" not in term.seen and b"\x07" not in term.seen, term.seen

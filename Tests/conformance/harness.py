"""Drives the agent and the Python reference with the same requests and decodes answers.

The reference's own module (fora.connectors.tunnel_dispatcher from PyPI fora==2.1.7)
encodes requests and decodes answers, so the comparison uses its encoder, not ours.
"""
import os
import pwd
import select
import subprocess
import sys
import time
from pathlib import Path

from fora.connectors import tunnel_dispatcher as td

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from reference_codec import encode  # noqa: E402  pylint: disable=wrong-import-position,unused-import
AGENT = Path(os.environ.get("TUNNEL_AGENT", ROOT / "dist" / "tunnel-dispatcher"))
REFERENCE = Path(td.__file__)
TEST_USER = "tunnel-test"


def agent_command(*args):
    return [str(AGENT), *args]


def reference_command(*args):
    # Run the module as a script, exactly as fora ships it to a remote host.
    # The interpreter itself, not a pyenv shim (shims rewrite PATH, which Getenv would see).
    # spwd warns of its deprecation on Python 3.11; that line is not part of the protocol.
    return [os.environ.get("TUNNEL_REFERENCE_PYTHON", sys.executable), "-W", "ignore::DeprecationWarning",
            str(REFERENCE), *args]


def as_user(command, user):
    """Prefixes `command` so that it runs as `user` (None: as we are)."""
    if user is None:
        return command
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
            "--reset-env", *command]


class Dispatcher:
    """One running dispatcher (agent or reference) with raw packet access."""

    def __init__(self, command, cwd="/tmp", env=None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.conn = td.Connection(self.process.stdout, self.process.stdin)

    def send(self, packet):
        self.conn.write_packet(packet)

    def receive(self):
        """The next answer as the reference's NamedTuple (errors are answers too)."""
        header = self.conn.read(4)
        if len(header) < 4:
            raise EOFError("dispatcher closed the stream")
        packet_id = int.from_bytes(header, "big")
        return td.packet_deserializers[packet_id](self.conn)

    def request(self, packet):
        self.send(packet)
        return self.receive()

    def close(self):
        """Sends Exit and returns (status, stderr)."""
        try:
            self.send(td.PacketExit())
        except BrokenPipeError:
            pass
        return self.finish()

    def finish(self, timeout=20):
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        rest = self.process.stdout.read()
        stderr = self.process.stderr.read()
        status = self.process.wait(timeout=timeout)
        return status, rest, stderr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def processes_with(marker):
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def raw_session(command, data, timeout=20):
    """Writes `data` to a fresh dispatcher, closes its stdin; returns (status, stdout, stderr)."""
    result = subprocess.run(command, input=data, capture_output=True, timeout=timeout, cwd="/tmp")
    return result.returncode, result.stdout, result.stderr


def wait_until(condition, timeout=10):
    """Polls `condition` until it is true (True) or `timeout` seconds pass (False): for a state
    that another process reaches soon, never a fixed sleep that may be too short."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def open_files_below(pid, directory):
    """The files process `pid` has open below `directory` (unnamed ones included)."""
    found = []
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def read_what_is_left(master):
    """What a pseudo-terminal's master still holds once its program ended, without waiting
    (EIO or end of file: nothing more will come)."""
    left = b""
    while select.select([master], [], [], 0)[0]:
        try:
            piece = os.read(master, 4096)
        except OSError:
            break
        if not piece:
            break
        left += piece
    return left


def read_until_closed(master):
    """Everything a pseudo-terminal's master shows until every process has closed its end
    (EIO or end of file)."""
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            return shown
        if not chunk:
            return shown
        shown += chunk

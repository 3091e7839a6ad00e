"""An sshd of our own on 127.0.0.1 (root login by key only), for the tests and the bench.
Needs root and Debian's openssh-server; `available()` says whether both are there."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def available():
    return os.getuid() == 0 and os.path.exists(SSHD)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """How to reach the server: `command(user)` is the ssh argv prefix; `options` are the
    same settings as `ssh -o` takes them (for `tunnel --ssh-option`)."""

    def __init__(self, port, key):
        self.port = port
        self.key = key
        self.options = [f"IdentityFile={key}", "BatchMode=yes", "StrictHostKeyChecking=no",
                        "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]

    def command(self, user="root"):
        return [shutil.which("ssh"), "-q", "-i", str(self.key), "-p", str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", f"{user}@127.0.0.1"]


@contextlib.contextmanager
def local_sshd(extra_config=""):
    """Starts the server, which any account with a login shell reaches with the one client
    key (root too); `extra_config` is appended (Match blocks). Yields a Server."""
    home = Path(tempfile.mkdtemp(prefix="tunnel-sshd-"))
    os.chmod(home, 0o755)   # the accounts' shared authorized_keys is read as each of them
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "client_key")], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    os.chmod(home / "authorized_keys", 0o644)
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\nPidFile {home}/sshd.pid\n"
        f"AuthorizedKeysFile {home}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\n" + extra_config)
    os.makedirs("/run/sshd", exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield Server(port, home / "client_key")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(home)

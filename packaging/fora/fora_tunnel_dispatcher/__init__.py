"""A fora connector that deploys to hosts without Python: `tunnel-ssh://[user@]host[:port]`.

`import fora_tunnel_dispatcher` in an inventory registers the schema. The host is reached with
the system's ssh, as fora's own `ssh` connector does (and with the same host variables:
`ssh_host`, `ssh_port`, `ssh_opts`), but instead of sending fora's Python dispatcher inline it
starts tunnel-dispatcher, a static agent that speaks the same protocol: the target's cached
copy, or the one bundled in this wheel, sent over the same connection when missing. The
bootstrap is the snippet `tunnel --ssh` uses (bootstrap.sh, shipped beside this file).

A key whose authorized_keys line forces the agent's command (`command="…tunnel-dispatcher
--read-only …"`) ignores whatever ssh asks to run, bootstrap included: the host variable
`tunnel_forced_command = True` connects without one (docs/usage.md)."""
import hashlib
import subprocess
import sys
from pathlib import Path

from fora import logger
from fora.connectors import tunnel_dispatcher as td
from fora.connectors.connector import connector
from fora.connectors.ssh import SshConnector

__version__ = "0.2.0"   # written from Sources/TunnelWire/Version.swift by scripts/build-wheel.py
HERE = Path(__file__).resolve().parent
ARCHITECTURES = ("x86_64", "aarch64")


class BootstrapError(IOError):
    """The agent could not be started on the target; the message says why."""


def snippet() -> str:
    """bootstrap.sh without its comment lines, as it travels through the login shell."""
    lines = (HERE / "bootstrap.sh").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def agents() -> dict:
    """The bundled agents, by machine: (content, sha256)."""
    found = {}
    for architecture in ARCHITECTURES:
        path = HERE / "agents" / f"tunnel-dispatcher-{architecture}"
        if path.exists():
            content = path.read_bytes()
            found[architecture] = (content, hashlib.sha256(content).hexdigest())
    return found


def remote_command(bundled: dict) -> str:
    """The one string ssh gives the login shell: `sh -c SNIPPET` and its arguments, each quoted."""
    words = ["sh", "-c", snippet(), "tunnel-bootstrap", "0"]
    for architecture in ARCHITECTURES:
        content, digest = bundled.get(architecture, (b"", "-"))
        words += [digest, str(len(content))]
    return " ".join(f"'{word}'" for word in words)


def bootstrap(process: subprocess.Popen, bundled: dict) -> str:
    """Answers the snippet's lines until the agent starts; returns where it runs from."""
    while True:
        line = process.stdout.readline(4096)
        if not line:
            status = process.wait()
            if status == 255:
                raise BootstrapError("ssh could not reach the host (status 255; ssh's own message is above)")
            raise BootstrapError(f"ssh ended with status {status} before the bootstrap started: the login shell "
                                 "must be a POSIX shell (sh, bash, dash, busybox ash)")
        text = line.decode(errors="replace").rstrip("\n")
        if not text.startswith("tunnel-bootstrap "):
            raise BootstrapError(f"the remote shell printed text before the agent started: {text[:80]!r} (its "
                                 "startup files print to standard output)")
        words = text.split(" ", 3)
        if words[1] == "send" and len(words) == 4 and words[2] in bundled:
            process.stdin.write(bundled[words[2]][0])
            process.stdin.flush()
        elif words[1] == "note":
            if fora_debug():
                print(f"[tunnel-ssh] on the target: {' '.join(words[2:])}", file=sys.stderr)
        elif words[1] == "start" and len(words) == 4:
            return words[3]
        elif words[1] == "error":
            raise BootstrapError("on the target: " + " ".join(words[2:]))
        else:
            raise BootstrapError(f"unexpected line from the bootstrap: {text!r}")


@connector(schema="tunnel-ssh")
class TunnelSshConnector(SshConnector):
    """fora's ssh connector with tunnel-dispatcher in place of the inline Python dispatcher."""

    def ssh_url(self) -> str:
        """`tunnel-ssh://root@web1:22` → `ssh://root@web1:22`, which ssh takes as it is."""
        return "ssh://" + self.url[len(f"{self.schema}://"):]

    def command(self) -> list[str]:
        return self.command_sending(agents())

    def forced_command(self) -> bool:
        """The host variable `tunnel_forced_command`: the key's forced command is the agent."""
        return bool(getattr(self.host, "tunnel_forced_command", False))

    def command_sending(self, bundled: dict) -> list[str]:
        if self.forced_command():
            return ["ssh", *self.ssh_opts, self.ssh_url()]
        return ["ssh", *self.ssh_opts, self.ssh_url(), remote_command(bundled)]

    def open(self) -> None:
        logger.connection_init(self)
        bundled = agents()
        # The pipes must outlive this function: closed in close(), or below on failure.
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            self.command_sending(bundled), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
        try:
            where = "the key's forced command" if self.forced_command() else bootstrap(self.process, bundled)
            if fora_debug():
                print(f"[tunnel-ssh] agent running from {where}", file=sys.stderr)
            self.conn = td.Connection(self.process.stdout, self.process.stdin)
            response = self._request(td.PacketCheckAlive())
            if not isinstance(response, td.PacketAck):
                raise IOError(f"unexpected answer {type(response).__name__} to CheckAlive")
            self.is_open = True
        except IOError as error:
            logger.connection_failed(str(error))
            raise
        finally:
            if not self.is_open:
                self.process.terminate()
                self.process.wait()
                self.process = None
        logger.connection_established()


def fora_debug() -> bool:
    import fora  # pylint: disable=import-outside-toplevel
    return bool(getattr(getattr(fora, "args", None), "debug", False))


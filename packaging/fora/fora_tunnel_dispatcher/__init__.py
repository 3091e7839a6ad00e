"""fora connectors that deploy to hosts and containers without Python:
`tunnel-ssh://[user@]host[:port]`, `tunnel-docker://CONTAINER` and `tunnel-podman://CONTAINER`.

`import fora_tunnel_dispatcher` in an inventory registers the schemas. A host is reached with
the system's ssh, as fora's own `ssh` connector does (and with the same host variables:
`ssh_host`, `ssh_port`, `ssh_opts`); a running container with `docker exec -i` or
`podman exec -i`, as `tunnel --docker` does (host variables: `docker_opts` / `podman_opts`,
the engine's own options before `exec`, such as `["--context", "prod"]`, and
`docker_exec_opts` / `podman_exec_opts`, options of `exec`, such as `["--user", "0"]`).
Instead of sending fora's Python dispatcher inline, each starts tunnel-dispatcher, a static
agent that speaks the same protocol: the target's cached copy, or the one bundled in this
wheel for the target's machine, sent over the same connection when missing. The bootstrap is
the snippet `tunnel` uses (bootstrap.sh, shipped beside this file).

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
from fora.connectors.tunnel_connector import TunnelConnector

__version__ = "0.2.0"   # written from Sources/TunnelWire/Version.swift by scripts/build-wheel.py
HERE = Path(__file__).resolve().parent
# One (hash, size) pair per machine is passed to bootstrap.sh, in this order: the order of
# AgentBinaries.architectures in the tunnel client.
ARCHITECTURES = ("x86_64", "aarch64", "armv7", "i686", "riscv64")


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


def snippet_command(bundled: dict) -> list[str]:
    """`sh -c SNIPPET tunnel-bootstrap 0 HASH SIZE...`, one pair per machine."""
    words = ["sh", "-c", snippet(), "tunnel-bootstrap", "0"]
    for architecture in ARCHITECTURES:
        content, digest = bundled.get(architecture, (b"", "-"))
        words += [digest, str(len(content))]
    return words


def remote_command(bundled: dict) -> str:
    """The one string ssh gives the login shell: the snippet command, each word quoted (the
    snippet holds no single quote, the arguments are hex and digits)."""
    return " ".join(f"'{word}'" for word in snippet_command(bundled))


def bootstrap(process: subprocess.Popen, bundled: dict, transport: str) -> str:
    """Answers the snippet's lines until the agent starts; returns where it runs from."""
    while True:
        line = process.stdout.readline(4096)
        if not line:
            status = process.wait()
            if transport == "ssh" and status == 255:
                raise BootstrapError("ssh could not reach the host (status 255; ssh's own message is above)")
            if transport == "ssh":
                raise BootstrapError(f"ssh ended with status {status} before the bootstrap started: the login shell "
                                     "must be a POSIX shell (sh, bash, dash, busybox ash)")
            raise BootstrapError(f"{transport} exec ended with status {status} before the bootstrap started: the "
                                 "container must be running and have a POSIX sh (the engine's message is above)")
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


class BootstrappedConnector(TunnelConnector):
    """Starts the agent through bootstrap.sh on the pipe that `command_sending` opens."""

    transport = "ssh"

    def command(self) -> list[str]:
        return self.command_sending(agents())

    def forced_command(self) -> bool:
        """The host variable `tunnel_forced_command`: the key's forced command is the agent."""
        return bool(getattr(self.host, "tunnel_forced_command", False))

    def command_sending(self, bundled: dict) -> list[str]:
        raise NotImplementedError

    def open(self) -> None:
        logger.connection_init(self)
        bundled = agents()
        # The pipes must outlive this function: closed in close(), or below on failure.
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            self.command_sending(bundled), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
        try:
            where = "the key's forced command" if self.forced_command() else bootstrap(self.process, bundled, self.transport)
            if fora_debug():
                print(f"[{self.schema}] agent running from {where}", file=sys.stderr)
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


@connector(schema="tunnel-ssh")
class TunnelSshConnector(BootstrappedConnector, SshConnector):
    """fora's ssh connector with tunnel-dispatcher in place of the inline Python dispatcher."""

    def ssh_url(self) -> str:
        """`tunnel-ssh://root@web1:22` → `ssh://root@web1:22`, which ssh takes as it is."""
        return "ssh://" + self.url[len(f"{self.schema}://"):]

    def command_sending(self, bundled: dict) -> list[str]:
        if self.forced_command():
            return ["ssh", *self.ssh_opts, self.ssh_url()]
        return ["ssh", *self.ssh_opts, self.ssh_url(), remote_command(bundled)]


class ContainerConnector(BootstrappedConnector):
    """`ENGINE [ENGINE_opts] exec -i [ENGINE_exec_opts] CONTAINER sh -c SNIPPET ...`: a running
    container, as `tunnel --docker` reaches it. The URL is `tunnel-ENGINE://CONTAINER`."""

    def __init__(self, url, host):
        super().__init__(url, host)
        engine = self.transport
        self.engine_opts: list[str] = list(getattr(host, f"{engine}_opts", []))
        self.exec_opts: list[str] = list(getattr(host, f"{engine}_exec_opts", []))
        if url is None:
            raise ValueError(f"{self.schema}: the host needs a url, {self.schema}://CONTAINER")
        self.url = url
        self.container = self.extract_hostname(url)

    @classmethod
    def extract_hostname(cls, url: str) -> str:
        """`tunnel-docker://web` and `tunnel-docker:web` → `web`."""
        if not url.startswith(f"{cls.schema}:"):
            raise ValueError(f"Cannot extract a container from url without matching schema "
                             f"(expected '{cls.schema}', got '{url}').")
        container = url[len(cls.schema) + 1:].removeprefix("//")
        # A name that starts with "-" would read as an option of the engine's.
        if not container or container.startswith("-") or "/" in container:
            raise ValueError(f"{cls.schema}: not a container name: {container!r}")
        return container

    def command_sending(self, bundled: dict) -> list[str]:
        return [self.transport, *self.engine_opts, "exec", "-i", *self.exec_opts, self.container,
                *snippet_command(bundled)]


@connector(schema="tunnel-docker")
class TunnelDockerConnector(ContainerConnector):
    """A running docker container, through `docker exec -i`."""

    transport = "docker"


@connector(schema="tunnel-podman")
class TunnelPodmanConnector(ContainerConnector):
    """A running podman container, through `podman exec -i`."""

    transport = "podman"


def fora_debug() -> bool:
    import fora  # pylint: disable=import-outside-toplevel
    return bool(getattr(getattr(fora, "args", None), "debug", False))


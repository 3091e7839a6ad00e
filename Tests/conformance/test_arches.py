"""Each agent for another machine (issue 25) is static and starts in an empty root: a chroot
that holds only the agent, the static qemu-user that runs it, and an /etc for the account
lookups. (The conformance suite runs the same agents through scripts/run-ARCH.sh, a shell
script, which an empty root cannot run.)"""
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fora.connectors import tunnel_dispatcher as td
from harness import ROOT, encode

QEMU = {"aarch64": "qemu-aarch64-static", "armv7": "qemu-arm-static", "i686": "qemu-i386-static",
        "riscv64": "qemu-riscv64-static"}


def answers(stream):
    """The packets in `stream`, decoded by the reference's own deserializers."""
    class Reader:
        def __init__(self):
            self.position = 0

        def read(self, count):
            self.position += count
            return stream[self.position - count:self.position]

    reader, decoded = Reader(), []
    connection = td.Connection(reader, None)
    while reader.position < len(stream):
        decoded.append(td.packet_deserializers[int.from_bytes(connection.read(4), "big")](connection))
    return decoded


@pytest.mark.parametrize("arch", sorted(QEMU))
def test_starts_in_an_empty_root(arch):
    agent, qemu = ROOT / "dist" / f"tunnel-dispatcher-{arch}", shutil.which(QEMU[arch])
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    if qemu is None or not agent.exists():
        pytest.skip(f"needs {QEMU[arch]} and {agent.name} (make arches)")
    root = Path(tempfile.mkdtemp(prefix=f"tunnel-empty-{arch}-"))
    try:
        shutil.copy(qemu, root / "qemu")
        shutil.copy(agent, root / "tunnel-dispatcher")
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text("alice:x:4000000000:1000:Alice:/home/alice:/bin/sh\n")
        (root / "etc" / "group").write_text("staff:x:50:alice\nalice:x:1000:\n")
        before = int(time.time())
        requests = encode(td.PacketCheckAlive(),
                          td.PacketQueryUser(user="alice", query_password_hash=False),
                          td.PacketStat(path="/tunnel-dispatcher", follow_links=False, sha512sum=True),
                          td.PacketProcessRun(command=["true"], stdin=None, capture_output=True, user=None,
                                              group=None, umask=None, cwd=None),
                          td.PacketUpload(file="/etc/motd", content=b"hello", mode="640", owner=None, group=None),
                          td.PacketStat(path="/etc/motd", follow_links=False, sha512sum=False),
                          td.PacketExit())
        result = subprocess.run(["chroot", str(root), "/qemu", "/tunnel-dispatcher"], input=requests,
                                capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        alive, user, agent_stat, run, uploaded, motd = answers(result.stdout)
        assert isinstance(alive, td.PacketAck)
        # A uid above 2^31: 32-bit machines must not take it for a negative number.
        assert (user.name, user.uid, user.groups) == ("alice", 4000000000, ["staff"])
        assert agent_stat.size == agent.stat().st_size and agent_stat.type == "file"
        assert agent_stat.sha512sum == hashlib.sha512(agent.read_bytes()).digest()
        assert isinstance(run, td.PacketOSError) and run.msg == "[Errno 2] No such file or directory: 'true'"
        assert isinstance(uploaded, td.PacketOk) and (root / "etc/motd").read_bytes() == b"hello"
        # Times past 2038 are not needed to pass, but now must come back as now (64-bit time_t).
        assert motd.mode & 0o777 == 0o640 and before - 5 <= motd.mtime // 1_000_000_000 <= int(time.time()) + 5
    finally:
        shutil.rmtree(root)

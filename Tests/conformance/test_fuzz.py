"""Mutated request streams against the static agent: whatever the bytes, it must end with
status 0 or 3 (never a signal: at -Osize a Swift trap is a silent SIGILL) and never hang.
Seeded, so a failure reproduces. Runs in an empty chroot: a mutated ProcessRun finds
nothing to execute there and a mutated Upload can only write inside it."""
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import AGENT, encode

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")

SEEDS = [
    encode(td.PacketCheckAlive()),
    encode(td.PacketProcessRun(command=["true", "x"], stdin=b"abc", capture_output=True, user="root",
                               group="0", umask="022", cwd="/")),
    encode(td.PacketStat(path="/tunnel-dispatcher", follow_links=True, sha512sum=True)),
    encode(td.PacketUpload(file="/up", content=b"content", mode="600", owner="0", group=None)),
    encode(td.PacketDownload(file="/tunnel-dispatcher")),
    encode(td.PacketResolveUser(user="root"), td.PacketResolveGroup(group=None)),
    encode(td.PacketQueryUser(user="0", query_password_hash=True), td.PacketQueryGroup(group="root")),
    encode(td.PacketGetenv(key="PATH")),
]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.6 and data:
            # A length or count field made large or absurd.
            position = rng.randrange(len(data))
            data[position:position + 8] = rng.choice([2**63, 2**40, 2**20 + 1, 65537, 0]).to_bytes(8, "big")
        elif choice < 0.8:
            data = data[:rng.randrange(len(data) + 1)]
        else:
            position = rng.randrange(len(data) + 1)
            data[position:position] = rng.randbytes(rng.randint(1, 16))
    return bytes(data)


@pytest.fixture(scope="module")
def chroot():
    root = Path(tempfile.mkdtemp(prefix="tunnel-fuzz-"))
    shutil.copy(AGENT, root / "tunnel-dispatcher")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    yield root
    shutil.rmtree(root)


STATUSES = set()


@pytest.mark.parametrize("seed", range(16))
def test_mutated_streams_end_cleanly(chroot, seed):
    rng = random.Random(seed)
    for case in range(100):
        stream = b"".join(mutate(rng, rng.choice(SEEDS)) for _ in range(rng.randint(1, 4)))
        try:
            result = subprocess.run(["chroot", str(chroot), "/tunnel-dispatcher"], input=stream,
                                    capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"seed {seed} case {case}: hang on {stream.hex()}")
        assert result.returncode in (0, 3), f"seed {seed} case {case}: status {result.returncode} on {stream.hex()}"
        STATUSES.add(result.returncode)


def test_the_mutations_reach_both_endings():
    # Runs after the seeds: both endings occurred, so the mutated streams reached the
    # handlers (status 0) as well as the protocol errors (status 3).
    assert STATUSES == {0, 3}

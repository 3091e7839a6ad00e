"""Issue 20, start latency: once the bootstrap has started the agent of tunnel's own build,
`tunnel run` sends its RunEx together with CheckAlive and Hello, and reads their answers
before RunEx's: one round trip through ssh less per start (Sources/TunnelClient/
TunnelConnection.swift). An agent tunnel did not start itself (`--via`, maybe fora's Python
dispatcher, which ends on Hello) is still asked first, and nothing is sent before its answer.
Nor do the first packets wait for the bootstrap snippet's `start` line: they follow the
snippet's command, after a line with their byte count (bootstrap.sh, `ahead`).
The transport here is a stand-in that records what arrives before it answers anything."""
import os
import subprocess
import sys

import pytest

from test_cli import TUNNEL

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

CHECK_ALIVE, HELLO, RUN_EX = 2, 23, 25

# Records the bytes that arrive until the client stops sending (it waits for an answer, which
# never comes: a silence of 3 s). For --ssh it then says what the bootstrap says when it
# starts a cached agent, and records again. Nothing is answered, nothing runs.
RECORDER = r"""#!{python}
import os, select, sys
log = {log!r}

def received():
    data = b""
    while True:
        ready, _, _ = select.select([0], [], [], 3)
        if not ready:
            return data
        piece = os.read(0, 65536)
        if not piece:
            return data
        data += piece

before = received()
after = b""
if os.path.basename(sys.argv[0]) == "ssh":
    os.write(1, b"tunnel-bootstrap start x86_64 /nonexistent/agent\n")
    after = received()
with open(log, "wb") as out:
    out.write(before)
with open(log + ".after", "wb") as out:
    out.write(after)
"""


def packet_ids(data):
    """The ids of CheckAlive (no fields), Hello (one byte) and what follows them."""
    ids = []
    while len(data) >= 4 and len(ids) < 3:
        ids.append(int.from_bytes(data[:4], "big"))
        data = data[4 + (1 if ids[-1] == HELLO else 0):] if ids[-1] in (CHECK_ALIVE, HELLO) else b""
    return ids


def recorded_start(tmp_path, *route):
    """The packet ids the client sent, before the bootstrap's `start` line and after it."""
    log = tmp_path / "received"
    recorder = tmp_path / "ssh"
    recorder.write_text(RECORDER.format(python=sys.executable, log=str(log)))
    recorder.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    route = [arg.replace("RECORDER", str(recorder)) for arg in route]
    result = subprocess.run([str(TUNNEL), *route, "run", "--", "true"], capture_output=True, env=env, timeout=60)
    assert result.returncode == 255, result   # the stand-in ends without answering
    before, after = log.read_bytes(), (tmp_path / "received.after").read_bytes()
    if route[0] == "--ssh" and before:
        count, _, before = before.partition(b"\n")   # what the snippet reads first (bootstrap.sh)
        assert int(count) == len(before), (count, before)
    return packet_ids(before), packet_ids(after)


def test_a_bootstrapped_agent_gets_the_run_with_hello_before_the_start_line(tmp_path):
    """Failed before RunEx went with Hello: [2, 23] arrived, and the client waited for their
    answers. Failed before the packets went ahead: nothing arrived before `start`, and
    [2, 23, 25] after it."""
    assert recorded_start(tmp_path, "--ssh", "h") == ([CHECK_ALIVE, HELLO, RUN_EX], [])


def test_an_agent_tunnel_did_not_start_is_asked_first(tmp_path):
    """`--via` may be fora's dispatcher, which ends on Hello: RunEx waits for its answer."""
    assert recorded_start(tmp_path, "--via", "RECORDER") == ([CHECK_ALIVE, HELLO], [])


def test_ping_says_ok_only_once_the_agent_answered(tmp_path):
    """A target whose snippet says `start` and whose agent then ends without a word: ping
    fails. Failed before: CheckAlive's answer was left unread, and ping printed ok."""
    stand_in = tmp_path / "ssh"
    stand_in.write_text(f"#!{sys.executable}\nimport os\nos.write(1, b'tunnel-bootstrap start x86_64 /x\\n')\n")
    stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    result = subprocess.run([str(TUNNEL), "--ssh", "h", "ping"], capture_output=True, env=env, timeout=60)
    assert (result.returncode, result.stdout) == (255, b""), result

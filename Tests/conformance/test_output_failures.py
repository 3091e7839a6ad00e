"""When tunnel's own output fails while the agent is still sending (issue 23 items 8 and 10):
a full standard output is GNU's "write error" and exit 1, a reader that went away ends
tunnel silently by SIGPIPE, a full local disk is tunnel's own failure (255). In every case
the user reads tunnel's message alone: the agent, cut off mid-stream, must not add its own
"Cannot write to the data stream: Broken pipe" on the same stderr after tunnel is gone.

The agent is started locally (`--via`), so it shares tunnel's stderr: anything it says
shows up in what these tests capture (they read stderr until every writer has closed it)."""
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import ROOT
from test_cli_habits import tunnel_into
from test_habits import full_disk  # noqa: F401 (a fixture)

TUNNEL = ROOT / "dist" / "tunnel"
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")

# Far more than a pipe holds: the agent is still writing when tunnel's first write fails.
BIG = 4 << 20


@pytest.fixture(scope="module")
def big_file():
    folder = Path(tempfile.mkdtemp(prefix="tunnel-output-"))
    path = folder / "big"
    path.write_bytes(os.urandom(BIG))
    yield path
    path.unlink()
    folder.rmdir()


def streaming_commands(big_file):
    return {"download": ["download", str(big_file)], "run": ["run", "--", "cat", str(big_file)]}


@pytest.mark.parametrize("kind", ["download", "run"])
def test_a_full_standard_output_mid_stream_is_a_write_error_and_nothing_else(big_file, kind):
    with open("/dev/full", "wb") as full:
        result = tunnel_into(full, *streaming_commands(big_file)[kind])
    assert (result.returncode, result.stderr) == (1, b"tunnel: write error: No space left on device\n"), result


@pytest.mark.parametrize("kind", ["download", "run"])
def test_a_reader_that_went_away_mid_stream_ends_tunnel_silently(big_file, kind):
    reader, writer = os.pipe()
    os.close(reader)   # every write to `writer` now fails with EPIPE
    try:
        result = tunnel_into(writer, *streaming_commands(big_file)[kind])
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (-signal.SIGPIPE, b""), result


def test_download_r_onto_a_full_disk_says_only_tunnels_own_message(full_disk, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/c", "sub/d"):
        (tree / name).write_bytes(os.urandom(BIG // 4))
    result = tunnel_into(subprocess.DEVNULL, "download", "-r", str(tree), str(full_disk / "t"))
    assert result.returncode == 255, result
    lines = result.stderr.decode().splitlines()
    assert lines and all(line.startswith("tunnel: ") for line in lines), lines
    assert any("No space left on device" in line for line in lines), lines

"""Many small uploads (issue 15): the durability the agent promises, in the ways it can be
shown here, and that atomicity survives interruptions at any moment."""
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import Dispatcher, agent_command, encode


def upload(path, content, mode="644"):
    return td.PacketUpload(file=str(path), content=content, mode=mode, owner=None, group=None)


def answers(data, count):
    """Decodes `count` answers from `data`."""
    class Stream:
        def __init__(self):
            self.position = 0

        def read(self, n):
            chunk = data[self.position:self.position + n]
            self.position += n
            return chunk
    conn = td.Connection(Stream(), None)
    return [td.packet_deserializers[int.from_bytes(conn.read(4), "big")](conn) for _ in range(count)]


def traced_session(tmp_path, packets, *agent_args):
    """Runs `packets` through one agent under strace; returns (answers, the traced calls)."""
    trace = tmp_path / "trace"
    data = b"".join(encode(packet) for packet in packets) + encode(td.PacketExit())
    result = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,syncfs,sync,linkat,renameat,renameat2",
                             "-o", str(trace), *agent_command(*agent_args)], input=data, capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    calls = [line.split(None, 1)[1].split("(")[0] for line in trace.read_text().splitlines()
             if "(" in line and not line.split(None, 1)[1].startswith("+++")]
    return answers(result.stdout, len(packets)), calls


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (setup.sh test installs it)")


@needs_strace
def test_default_mode_never_syncs(tmp_path):
    (tmp_path / "files").mkdir()
    packets = [upload(tmp_path / "files" / f"f{i}", os.urandom(4096)) for i in range(20)]
    replies, calls = traced_session(tmp_path, packets)
    assert replies == [td.PacketOk()] * 20
    assert [call for call in calls if "sync" in call] == []


@needs_strace
def test_durable_mode_syncs_pipelined_uploads_as_one_group(tmp_path):
    (tmp_path / "files").mkdir()
    contents = [os.urandom(4096) for _ in range(20)]
    packets = [upload(tmp_path / "files" / f"f{i}", content) for i, content in enumerate(contents)]
    replies, calls = traced_session(tmp_path, packets, "--durable")
    assert replies == [td.PacketOk()] * 20
    for i, content in enumerate(contents):
        assert (tmp_path / "files" / f"f{i}").read_bytes() == content
    # Every file's data is synced before any of them is named: the group waits once, not
    # once per file. (The pipe may deliver the requests in more than one piece; each piece
    # is a group of its own, so allow a few.)
    groups = 1 + sum(1 for before, after in zip(calls, calls[1:]) if before in ("linkat", "renameat") and after == "fsync")
    assert calls.count("fsync") >= 20
    assert groups <= 3, calls


def test_durable_uploads_are_in_place_for_what_follows(tmp_path):
    with Dispatcher(agent_command("--durable")) as agent:
        agent.send(upload(tmp_path / "script", b"first\n"))
        agent.send(upload(tmp_path / "script", b"second\n", mode="755"))
        agent.send(td.PacketProcessRun(command=["cat", str(tmp_path / "script")], stdin=None, capture_output=True,
                                       user=None, group=None, umask=None, cwd=None))
        assert agent.receive() == td.PacketOk()
        assert agent.receive() == td.PacketOk()
        assert agent.receive().stdout == b"second\n"
        agent.close()
    assert os.stat(tmp_path / "script").st_mode & 0o777 == 0o755


def test_sigkill_at_random_moments_leaves_old_or_new(tmp_path):
    """Pipelined uploads over existing files, the agent killed at random moments: each file
    holds its old or its new content, whole. The one thing SIGKILL can leave is the new file
    under its temporary name, if it lands in the single system call between naming the new
    file and renaming it over the old one (no Linux call replaces a name with an unnamed
    file); that leftover holds a complete new content (docs/protocol.md)."""
    rng = random.Random(15)
    for round_number in range(20):
        directory = tmp_path / f"round{round_number}"
        directory.mkdir()
        old = {i: os.urandom(rng.randrange(1, 200_000)) for i in range(30)}
        new = {i: os.urandom(rng.randrange(1, 200_000)) for i in range(30)}
        for i, content in old.items():
            (directory / f"f{i}").write_bytes(content)
        data = b"".join(encode(upload(directory / f"f{i}", new[i])) for i in range(30))
        process = subprocess.Popen(agent_command(*(["--durable"] if round_number % 2 else [])),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.stdin.write(data)
            process.stdin.flush()
        except BrokenPipeError:
            pass
        time.sleep(rng.uniform(0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        names = os.listdir(directory)
        leftovers = [name for name in names if not name.startswith("f")]
        assert sorted(set(names) - set(leftovers)) == sorted(f"f{i}" for i in range(30))
        assert len(leftovers) <= 1, leftovers
        for name in leftovers:
            assert name.startswith(".tunnel-") and len(name) == 16
            assert (directory / name).read_bytes() in new.values()
        for i in range(30):
            assert (directory / f"f{i}").read_bytes() in (old[i], new[i]), (round_number, i)


def test_client_gone_after_the_content_but_before_the_answer(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    process.stdout.close()   # nobody will read the answer
    process.stdin.write(encode(upload(target, b"new content")))
    process.stdin.close()
    assert process.wait(timeout=10) in (0, 3)
    assert target.read_bytes() in (b"old", b"new content")
    assert os.listdir(tmp_path) == ["f"]


@needs_strace
def test_a_client_chooses_durable_uploads_in_hello(tmp_path):
    """The extensions' Hello asks for durable uploads per session: grouped syncs, as --durable."""
    import extensions as x
    (tmp_path / "files").mkdir()
    packets = [upload(tmp_path / "files" / f"f{i}", os.urandom(4096)) for i in range(20)]
    trace = tmp_path / "trace"
    data = x.hello(durable_uploads=True) + b"".join(encode(packet) for packet in packets) + encode(td.PacketExit())
    result = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,syncfs,sync", "-o", str(trace),
                             *agent_command()], input=data, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import io
    reader = x.Reader(io.BytesIO(result.stdout))
    assert reader.answer()[1]["durable_uploads"] is True
    assert [reader.answer()[0] for _ in range(20)] == ["Ok"] * 20
    assert trace.read_text().count("fsync(") >= 20
    # Without it, the default: no sync at all.
    plain = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,syncfs,sync", "-o", str(trace),
                            *agent_command()], input=x.hello() + data[len(x.hello(True)):], capture_output=True, timeout=60)
    assert plain.returncode == 0 and "sync" not in trace.read_text().replace("+++", "")

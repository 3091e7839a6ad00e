"""The agent where users run it: over a real sshd on 127.0.0.1, and with a file that
changes size while it is downloaded."""
import os
import subprocess

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import AGENT, Dispatcher, encode, processes_with, wait_until

from local_sshd import available, local_sshd  # noqa: E402  (scripts/ is on sys.path through harness)


@pytest.fixture(scope="module")
def ssh_command():
    """An sshd of our own on 127.0.0.1 (root login by key only); yields the ssh argv prefix."""
    if not available():
        pytest.skip("needs root and openssh-server")
    with local_sshd() as server:
        yield server.command()


def test_session_over_ssh(ssh_command, tmp_path):
    # Copied with scp and started through ssh, as a user would.
    remote = tmp_path / "tunnel-dispatcher"
    scp_options = [option if option != "-p" else "-P" for option in ssh_command[1:-1]]
    subprocess.run(["scp", *scp_options, str(AGENT), f"root@127.0.0.1:{remote}"], check=True)
    agent = Dispatcher([*ssh_command, str(remote)])
    assert isinstance(agent.request(td.PacketCheckAlive()), td.PacketAck)
    answer = agent.request(td.PacketProcessRun(command=["sh", "-c", "echo $SSH_CONNECTION | cut -d' ' -f3"],
                                               stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None))
    assert answer.stdout == b"127.0.0.1\n"
    content = os.urandom(8 << 20)
    target = str(tmp_path / "uploaded")
    assert isinstance(agent.request(td.PacketUpload(file=target, content=content, mode="600", owner=None, group=None)), td.PacketOk)
    assert agent.request(td.PacketDownload(file=target)).content == content
    status, rest, _ = agent.close()
    assert status == 0 and rest == b""


def test_killed_ssh_client_leaves_no_command_behind(ssh_command, tmp_path):
    """Ctrl-C on the client side: ssh dies, sshd closes the agent's pipes, the agent sees its
    answer channel close and ends the command's whole process group."""
    marker = f"{800 + os.getpid() % 100}.31"
    client = Dispatcher([*ssh_command, str(AGENT)])
    assert isinstance(client.request(td.PacketCheckAlive()), td.PacketAck)
    client.send(td.PacketProcessRun(command=["sh", "-c", f"sleep {marker} & sleep {marker}"], stdin=None,
                                    capture_output=True, user=None, group=None, umask=None, cwd=None))
    wait_until(lambda: len(processes_with(marker)) >= 3)
    assert len(processes_with(marker)) >= 2, "the command never started"
    client.process.kill()
    client.process.wait()
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


def test_download_of_a_file_that_shrinks_ends_the_session(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(os.urandom(64 << 20))
    agent = Dispatcher([str(AGENT)])
    agent.send(td.PacketDownload(file=str(path)))
    header = agent.conn.read(4 + 8)
    assert int.from_bytes(header[4:], "big") == 64 << 20
    agent.conn.read(1 << 20)          # the agent is now blocked writing into the pipe
    os.truncate(path, 10 << 20)
    status, rest, stderr = agent.finish()
    assert status == 3 and b"shrank" in stderr
    assert len(rest) < (63 << 20), "the declared length was never completed"


def test_answers_before_an_aborted_download_still_arrive(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(os.urandom(64 << 20))
    agent = Dispatcher([str(AGENT)])
    # Both requests in one write: the Ack is still buffered when the download starts.
    agent.process.stdin.write(encode(td.PacketCheckAlive(), td.PacketDownload(file=str(path))))
    agent.process.stdin.flush()
    assert isinstance(agent.receive(), td.PacketAck)
    agent.conn.read(4 + 8 + (1 << 20))
    os.truncate(path, 1 << 20)
    status, _, stderr = agent.finish()
    assert status == 3 and b"shrank" in stderr


def test_download_of_a_file_that_grows_ends_the_session(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(os.urandom(64 << 20))
    agent = Dispatcher([str(AGENT)])
    agent.send(td.PacketDownload(file=str(path)))
    agent.conn.read(4 + 8 + (1 << 20))
    with open(path, "ab") as handle:
        handle.write(b"more")
    status, rest, stderr = agent.finish()
    assert status == 3 and b"changed size" in stderr
    assert len(rest) < (63 << 20)

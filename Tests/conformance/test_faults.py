"""Faults (issue 14): the client vanishing at any point, hostile resource limits, children
that outlive their command, and long sessions. Each must end in a clear answer or a clean
exit: no crash, no hang, nothing left behind."""
import os
import pwd
import resource
import signal
import subprocess

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import Dispatcher, agent_command, encode, processes_with, wait_until


def run(command, **fields):
    base = dict(command=command, stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None)
    base.update(fields)
    return td.PacketProcessRun(**base)


def requests(tmp_path):
    """One of every request kind, each touching only `tmp_path`."""
    return {
        "check-alive": td.PacketCheckAlive(),
        "process-run": run(["cat"], stdin=os.urandom(4 << 20)),
        "stat": td.PacketStat(path=str(tmp_path / "f"), follow_links=False, sha512sum=True),
        "upload": td.PacketUpload(file=str(tmp_path / "new"), content=os.urandom(4 << 20), mode="600", owner=None,
                                  group=None),
        "download": td.PacketDownload(file=str(tmp_path / "f")),
        "resolve-user": td.PacketResolveUser(user="root"),
        "resolve-group": td.PacketResolveGroup(group="root"),
        "query-user": td.PacketQueryUser(user="root", query_password_hash=False),
        "query-group": td.PacketQueryGroup(group="root"),
        "getenv": td.PacketGetenv(key="PATH"),
    }


KINDS = ["check-alive", "process-run", "stat", "upload", "download", "resolve-user", "resolve-group", "query-user",
         "query-group", "getenv"]


@pytest.mark.parametrize("kind", KINDS)
def test_client_vanishes_mid_request(tmp_path, kind):
    (tmp_path / "f").write_bytes(b"old")
    data = encode(requests(tmp_path)[kind])
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdin.write(data[: len(data) // 2])
    process.stdin.close()
    process.stdout.close()
    assert process.wait(timeout=10) == 3
    assert b"Unexpected EOF" in process.stderr.read()
    assert sorted(os.listdir(tmp_path)) == ["f"]
    assert (tmp_path / "f").read_bytes() == b"old"


@pytest.mark.parametrize("captured", [True, False])
def test_client_vanishes_while_a_command_runs(captured):
    """The answer channel closing ends the command, and everything it started."""
    # Durations nobody else uses mark the command's processes in /proc.
    marker = f"{900 + os.getpid() % 100}.{int(captured)}17"
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    # A shell that starts a grandchild in the background and waits on another: all go.
    process.stdin.write(encode(run(["sh", "-c", f"sleep {marker} & sleep {marker}; echo done"], capture_output=captured)))
    process.stdin.flush()
    wait_until(lambda: len(processes_with(marker)) >= 3)
    assert len(processes_with(marker)) == 3, "the command never started"
    process.stdout.close()   # the client is gone
    process.stdin.close()
    assert process.wait(timeout=10) == 3
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)


# --- Resource limits ----------------------------------------------------------------------------

def start_limited(limit, value, user=None):
    """The agent with `limit` set to `value` (and running as `user`, when given)."""
    def prepare():
        if user is not None:
            entry = pwd.getpwnam(user)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        resource.setrlimit(limit, (value, value))
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=prepare, cwd="/tmp")
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.process, dispatcher.conn = process, td.Connection(process.stdout, process.stdin)
    return dispatcher


def test_eight_file_descriptors_give_clear_errors(tmp_path):
    (tmp_path / "old").write_bytes(b"old")
    agent = start_limited(resource.RLIMIT_NOFILE, 8)
    answers = [agent.request(packet) for packet in [
        td.PacketUpload(file=str(tmp_path / "new"), content=b"x" * 100, mode=None, owner=None, group=None),
        td.PacketUpload(file=str(tmp_path / "old"), content=b"y" * 100, mode=None, owner=None, group=None),
        run(["cat"], stdin=b"abc"),
        td.PacketDownload(file=str(tmp_path / "old")),
        td.PacketStat(path=str(tmp_path / "old"), follow_links=False, sha512sum=True),
    ]]
    for answer in answers:
        assert not isinstance(answer, td.PacketOSError) or answer.errno == 24, answer   # EMFILE
    assert any(isinstance(answer, td.PacketOSError) for answer in answers), "the limit never bit"
    assert agent.request(td.PacketCheckAlive()) == td.PacketAck()
    assert agent.close()[0] == 0


@pytest.mark.skipif(os.getuid() != 0, reason="switching to the unprivileged user needs root")
def test_process_limit_makes_process_run_an_os_error(unprivileged_user):
    agent = start_limited(resource.RLIMIT_NPROC, 0, user=unprivileged_user)
    answer = agent.request(run(["true"]))
    assert isinstance(answer, td.PacketOSError) and answer.errno == 11, answer   # EAGAIN from fork
    assert agent.request(td.PacketCheckAlive()) == td.PacketAck()
    assert agent.close()[0] == 0


# --- Children that outlive their command ------------------------------------------------------------

def test_a_daemonized_child_holding_the_output_is_waited_for(agent):
    """Decided and documented (docs/security.md): like the reference (Python's subprocess),
    a captured run ends when its output pipes close, so a background process that keeps
    them open is waited for, and what it writes meanwhile is part of the output."""
    answer = agent.request(run(["sh", "-c", "(sleep 1; echo late) & echo now"]))
    assert answer.stdout == b"now\nlate\n" and answer.returncode == 0


# --- Long sessions -----------------------------------------------------------------------------------

def status_field(pid, name):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return int(line.split()[1])


def test_a_million_check_alives_keep_memory_and_descriptors_flat(agent):
    pid = agent.process.pid
    chunk = encode(td.PacketCheckAlive()) * 100_000
    ack = encode(td.PacketAck())

    def round_of_100k():
        agent.process.stdin.write(chunk)
        agent.process.stdin.flush()
        received = 0
        while received < len(ack) * 100_000:
            received += len(agent.process.stdout.read1(1 << 20))
    round_of_100k()
    rss_before, fds_before = status_field(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(9):
        round_of_100k()
    assert status_field(pid, "VmRSS") <= rss_before + 256
    assert len(os.listdir(f"/proc/{pid}/fd")) == fds_before


def test_ten_thousand_mixed_requests_keep_memory_and_descriptors_flat(agent, tmp_path):
    pid = agent.process.pid
    target = tmp_path / "f"
    target.write_bytes(b"x" * 10_000)
    mixed = [td.PacketStat(path=str(target), follow_links=False, sha512sum=True), td.PacketDownload(file=str(target)),
             td.PacketUpload(file=str(tmp_path / "u"), content=b"y" * 5000, mode="600", owner=None, group=None),
             td.PacketResolveUser(user="root"), td.PacketQueryGroup(group="root"), td.PacketGetenv(key="PATH"),
             td.PacketStat(path=str(tmp_path / "missing"), follow_links=False, sha512sum=False)]

    def round_of(count):
        for index in range(count):
            agent.request(mixed[index % len(mixed)])
    round_of(1000)
    rss_before, fds_before = status_field(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))
    round_of(9000)
    assert status_field(pid, "VmRSS") <= rss_before + 256
    assert len(os.listdir(f"/proc/{pid}/fd")) == fds_before


@pytest.mark.parametrize("limit_mib", [2, 4, 8])
def test_address_space_limit_fails_the_request_not_the_agent(limit_mib):
    """A Swift allocation that fails ends the process (SIGILL before this was fixed), so the
    agent asks before allocating for a large field, and refuses the field instead."""
    agent = start_limited(resource.RLIMIT_AS, limit_mib << 20)
    answers = [agent.request(packet) for packet in [
        td.PacketResolveUser(user=" " * ((1 << 20) - 1) + "0"),
        run(["x" * ((1 << 20) - 1)] * 5),
        run(["cat"], stdin=os.urandom(3 << 20)),
        td.PacketCheckAlive(),
    ]]
    for answer in answers[:3]:
        assert isinstance(answer, (td.PacketResolveResult, td.PacketInvalidField, td.PacketOSError,
                                   td.PacketProcessCompleted)), answer
    assert answers[3] == td.PacketAck()
    status, _, stderr = agent.close()
    assert status == 0, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_that_ends_the_agent_reaches_the_running_command(sig):
    """Ctrl-C with a local agent (docker exec, --via the binary) signals the agent; the
    command runs in a process group of its own, so the agent passes the signal on."""
    marker = f"{700 + os.getpid() % 100}.{int(sig)}3"
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    # A shell starts background jobs with SIGINT ignored (POSIX), as a terminal's Ctrl-C
    # would find them too: for SIGINT, everything runs in the foreground.
    script = f"sleep {marker}; sleep {marker}" if sig == signal.SIGINT else f"sleep {marker} & sleep {marker}"
    process.stdin.write(encode(run(["sh", "-c", script])))
    process.stdin.flush()
    expected = 2 if sig == signal.SIGINT else 3
    wait_until(lambda: len(processes_with(marker)) >= expected)
    assert len(processes_with(marker)) >= 2, "the command never started"
    process.send_signal(sig)
    assert process.wait(timeout=10) == -sig
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)

"""The agent's run path (issue 21, and issue 20 item 8): one child supervisor for ProcessRun
and RunEx, control packets only as whole frames, the session's descriptors never changed,
and no signal to a pid the agent has reaped. Each test here failed on the agent before the
supervisor was rewritten (see the commit that added it)."""
import contextlib
import fcntl
import os
import pty
import re
import resource
import shutil
import socket
import subprocess
import threading
import tty

import pytest

import extensions as x
from harness import AGENT, ROOT

CHECK_ALIVE, ACK, EXIT, PROCESS_RUN = x.packet(2), 1, x.packet(3), 8


def process_run(command, stdin=None, capture_output=True):
    """fora's ProcessRun, encoded from protocol.md (independent of the reference's codec)."""
    return x.packet(PROCESS_RUN, x.u64(len(command)) + b"".join(x.text(part) for part in command),
                    x.optional(stdin, x.blob), x.boolean(capture_output), x.optional(None, x.text),
                    x.optional(None, x.text), x.optional(None, x.text), x.optional(None, x.text))


class Session:
    """The agent with its stdin and stdout on any descriptors; a watchdog kills it when a
    test would otherwise hang (a hang guard, not a timing assertion)."""

    def __init__(self, stdin=subprocess.PIPE, stdout=subprocess.PIPE, reader=None, writer=None,
                 preexec_fn=None, env=None, command=None):
        self.process = subprocess.Popen(command or [str(AGENT)], stdin=stdin, stdout=stdout,
                                        stderr=subprocess.PIPE, preexec_fn=preexec_fn, env=env)
        self.writer = writer or self.process.stdin
        self.reader = x.Reader(reader or self.process.stdout)
        self.watchdog = threading.Timer(60, self.process.kill)
        self.watchdog.start()

    def send(self, *packets):
        self.writer.write(b"".join(packets))
        self.writer.flush()

    def answer(self):
        return self.reader.answer()

    def answer_to(self, packet):
        self.send(packet)
        return self.answer()

    def ack(self):
        return self.reader.u32() == ACK

    def stop(self):
        self.watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        return self.process.returncode, self.process.stderr.read()


@pytest.fixture
def session():
    sessions = []

    def start(**options):
        sessions.append(Session(**options))
        return sessions[-1]
    yield start
    for started in sessions:
        started.stop()


def nonblocking(pid, fd):
    """Whether the agent's `fd` has O_NONBLOCK, as /proc tells (its open file description)."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
        flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
    return bool(flags & os.O_NONBLOCK)


# ---------------------------------------------------------------------------------------
# One refusal when the output cannot be stored


def file_size_limit(size):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


@pytest.mark.parametrize("request_packet", [
    x.run_ex(["head", "-c", "3000000", "/dev/zero"]),
    process_run(["head", "-c", "3000000", "/dev/zero"]),
], ids=["RunEx", "ProcessRun"])
def test_output_that_cannot_be_stored_is_one_os_error(session, tmp_path, request_packet):
    """Beyond 1 MiB the output goes to a scratch file, which RLIMIT_FSIZE stops at 256 KiB:
    one OSError (EFBIG), and the stream stays in step for the next request."""
    agent = session(preexec_fn=file_size_limit(1 << 18), env=dict(os.environ, TMPDIR=str(tmp_path)))
    name, fields = agent.answer_to(request_packet)
    assert (name, fields.get("errno")) == ("OSError", 27), (name, len(fields.get("stdout") or b""))
    agent.send(CHECK_ALIVE)
    assert agent.ack()


TUNNEL = ROOT / "dist" / "tunnel"


@pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
def test_tunnel_run_no_stream_reports_output_that_cannot_be_stored(tmp_path):
    """`tunnel run --no-stream` hung for ever on the short RunFinished; now it reports the
    agent's OSError (an error on the target: status 1)."""
    agent = tmp_path / "limited-agent"
    agent.write_text(f"#!/bin/sh\nulimit -f 512\nTMPDIR={tmp_path} exec {AGENT}\n")
    agent.chmod(0o755)
    result = subprocess.run([str(TUNNEL), "run", "--no-stream", "--", "head", "-c", "3000000", "/dev/zero"],
                            capture_output=True, timeout=60, env=dict(os.environ, TUNNEL_VIA=str(agent)))
    assert result.returncode == 1 and b"File too large" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# Requests behind a run


def test_a_request_pipelined_behind_a_captured_run_is_answered_after_it(session):
    agent = session()
    agent.send(x.run_ex(["sh", "-c", "echo out"]), CHECK_ALIVE, x.run_ex(["true"], stream=True), CHECK_ALIVE)
    assert agent.answer() == ("RunFinished", dict(returncode=0, timed_out=False, stdout=b"out\n", stderr=b""))
    assert agent.ack()


def test_half_a_control_packet_does_not_stop_a_streamed_run(session):
    """Half an Input packet (its id and part of its length) arrives; the time limit still
    ends the run, and the rest of the packet, once it comes, is read as a whole."""
    agent = session()
    whole = x.input_data(b"late")
    agent.send(x.run_ex(["sleep", "60"], stream=True, timeout_ms=200, grace_ms=100), whole[:7])
    name, fields = agent.answer()
    assert name == "RunFinished" and fields["timed_out"], fields
    agent.send(whole[7:], CHECK_ALIVE)
    assert agent.ack()


def test_input_split_across_writes_reaches_the_command_whole(session):
    agent = session()
    packets = x.input_data(b"first ") + x.input_data(b"second\n") + x.close_input()
    agent.send(x.run_ex(["cat"], stream=True, stdin=b""))
    for index in range(len(packets)):
        agent.send(packets[index:index + 1])
    output = b""
    while True:
        name, fields = agent.answer()
        if name == "RunFinished":
            break
        output += fields["data"]
    assert output == b"first second\n" and fields["returncode"] == 0


# ---------------------------------------------------------------------------------------
# The session's descriptors keep their flags


STREAMED_MEGABYTES = x.run_ex(["sh", "-c", "echo started; read gate; head -c 4000000 /dev/zero"], stream=True, stdin=b"")


def drain_streamed(agent):
    received = 0
    while True:
        name, fields = agent.answer()
        if name == "RunFinished":
            return received, fields
        received += len(fields["data"])


def test_one_socket_as_stdin_and_stdout(session):
    """socat EXEC:, inetd, systemd StandardInput=socket: fd 0 and fd 1 share one open file
    description. A streamed run must not make it non-blocking (that turned reads of fd 0
    into EAGAIN and ended the session)."""
    ours, theirs = socket.socketpair()
    with contextlib.closing(theirs):
        agent = session(stdin=theirs, stdout=theirs, reader=ours.makefile("rb"), writer=ours.makefile("wb"))
    agent.send(STREAMED_MEGABYTES)
    assert agent.answer() == ("Output", dict(stream=1, data=b"started\n"))
    assert not nonblocking(agent.process.pid, 1) and not nonblocking(agent.process.pid, 0)
    agent.send(x.input_data(b"go\n"), x.close_input())
    received, fields = drain_streamed(agent)
    assert received == 4000000 and fields["returncode"] == 0
    agent.send(CHECK_ALIVE)
    assert agent.ack()


def test_a_terminal_as_stdin_and_stdout(session):
    """A SIGKILLed agent cannot restore a flag: so it never sets one on a terminal."""
    primary, secondary = pty.openpty()
    tty.setraw(secondary)
    with contextlib.closing(os.fdopen(secondary, "rb", buffering=0)):
        agent = session(stdin=secondary, stdout=secondary, reader=os.fdopen(primary, "rb"),
                        writer=os.fdopen(os.dup(primary), "wb"))
    agent.send(STREAMED_MEGABYTES)
    assert agent.answer() == ("Output", dict(stream=1, data=b"started\n"))
    assert not nonblocking(agent.process.pid, 1)
    agent.send(x.input_data(b"go\n"), x.close_input())
    received, fields = drain_streamed(agent)
    assert received == 4000000 and fields["returncode"] == 0


# ---------------------------------------------------------------------------------------
# Signals only to pids the agent has not reaped (issue 20 item 8)


def kill_calls_after_reaping(trace, agent_pid, child_pid):
    """The kill(2) calls the agent made for `child_pid` (or its group) after it had reaped it."""
    reaped = False
    late = []
    for line in trace.splitlines():
        pid, _, call = line.partition(" ")
        if int(pid) != agent_pid:
            continue
        if re.match(rf"wait4\({child_pid},.*= {child_pid}\b", call.strip()) or \
           re.match(rf"waitid\(P_(PID|PIDFD), .*WEXITED(?!.*WNOWAIT).*= 0", call.strip()) and str(child_pid) in call:
            reaped = True
        elif reaped and re.match(rf"kill\(-?{child_pid},", call.strip()):
            late.append(call.strip())
    return late


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_no_signal_after_the_leader_was_reaped(tmp_path, stream):
    """The leader exits at once; a setsid grandchild keeps the pipes open past the time
    limit, whose SIGTERM to the group comes after the leader's exit. The agent must send it
    (and the SIGKILLs that follow) while the leader is still unreaped, so that its pid,
    which is also the group's id, cannot belong to anyone else yet."""
    trace = tmp_path / "trace"
    script = "echo $$; setsid sh -c 'sleep 1' & exit 0"
    command = ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=kill,wait4,waitid", str(AGENT)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = x.Reader(process.stdout)
    try:
        process.stdin.write(x.run_ex(["sh", "-c", script], stream=stream, timeout_ms=300, grace_ms=100))
        process.stdin.flush()
        output = b""
        while True:
            name, fields = reader.answer()
            if name == "Output":
                output += fields["data"]
                continue
            assert name == "RunFinished", fields
            break
        assert fields["timed_out"]
        child = int((fields["stdout"] if not stream else output).split()[0])
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = trace.read_text()
    agent_pid = int(lines.split()[0])
    assert re.search(rf"kill\(-{child}, SIGTERM\)", lines), lines
    assert kill_calls_after_reaping(lines, agent_pid, child) == [], lines


# ---------------------------------------------------------------------------------------
# The owner-name cache


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare (a private /etc)")
def test_a_rename_over_the_passwd_file_is_seen_by_the_next_stat(session, tmp_path):
    """The agent gets a private /etc (a bind mount in its own mount namespace); a Rename
    over its passwd file names an owner that was a number before."""
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group"):
        shutil.copy(f"/etc/{name}", etc / name)
    (etc / "passwd.new").write_text((etc / "passwd").read_text() + "cachetest:x:54329:54329::/:/bin/sh\n")
    owned = tmp_path / "owned"
    owned.write_bytes(b"")
    os.chown(owned, 54329, 54329)
    agent = session(command=["unshare", "-m", "sh", "-c", f"mount --bind {etc} /etc && exec {AGENT}"])
    assert agent.answer_to(x.stat_path(bytes(owned)))[1]["owner"] == "54329"
    assert agent.answer_to(x.rename(b"/etc/passwd.new", b"/etc/passwd")) == ("Ok", {})
    assert agent.answer_to(x.stat_path(bytes(owned)))[1]["owner"] == "cachetest"


# ---------------------------------------------------------------------------------------
# Session owns every write


def test_only_the_session_writes_answers():
    """Answers leave through Session alone (exactly one answer sequence per request, by
    construction): no other agent source names the output stream or encodes a packet into
    a writer."""
    sources = ROOT / "Sources" / "TunnelAgent"
    allowed = {sources / "Session" / "Session.swift", sources / "Session" / "OutputStream.swift"}
    offenders = []
    for path in sources.rglob("*.swift"):
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            if re.search(r"\bOutputStream\b|\.encode\(to:|func encode<|\bSession\.encode\b", code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []

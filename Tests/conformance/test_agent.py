"""The static agent through real pipes, where it goes beyond the reference: protocol
errors, the documented deviations, fd and signal hygiene, atomic uploads, the getent
fallback, an empty chroot, and fora's own client class."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fora.connectors import tunnel_dispatcher as td
from fora.connectors.tunnel_connector import TunnelConnector

from harness import (AGENT, TEST_USER, Dispatcher, agent_command, as_user, encode, open_files_below, raw_session,
                     reference_command, wait_until)


def run(command, **kwargs):
    fields = dict(command=command, stdin=None, capture_output=True, user=None, group=None,
                  umask=None, cwd=None)
    fields.update(kwargs)
    return td.PacketProcessRun(**fields)


# --- Protocol errors: exit 3, the reference's message, nothing extra on stdout -----------

ALIVE = encode(td.PacketCheckAlive())
ACK = encode(td.PacketAck())


@pytest.mark.parametrize("packet", [td.PacketStat(path="/etc/hostname", follow_links=False, sha512sum=False),
                                    run(["echo", "hi"], stdin=b"abc", umask="022"),
                                    td.PacketUpload(file="/tmp/never-written", content=b"xyz", mode="600", owner=None, group=None)])
def test_every_truncation_is_unexpected_eof(packet):
    data = encode(packet)
    for cut in range(1, len(data)):
        status, stdout, stderr = raw_session(agent_command(), ALIVE + data[:cut])
        assert (status, stdout, stderr) == (3, ACK, b"Unexpected EOF in data stream. Aborting.\n"), cut
    assert not os.path.exists("/tmp/never-written")


# 23 and up are the extensions (docs/protocol.md); 99 is beyond every id given out.
@pytest.mark.parametrize("packet_id", [99, 1000, 2**31, 2**32 - 1])
def test_invalid_packet_id_like_the_reference(packet_id):
    data = ALIVE + packet_id.to_bytes(4, "big")
    expected = raw_session(reference_command(), data)
    assert raw_session(agent_command(), data) == expected
    assert expected == (3, ACK, f"Received invalid packet id '{packet_id}'. Aborting.\n".encode())


@pytest.mark.parametrize("packet_id", [0, 1, 4, 5, 6, 7, 9, 11, 15, 17, 19, 21, 24, 26, 27, 32, 39, 41])
def test_response_sent_as_request_is_a_protocol_error(packet_id):
    # Deviation: the reference dies with a traceback here.
    status, stdout, stderr = raw_session(agent_command(), ALIVE + packet_id.to_bytes(4, "big"))
    assert status == 3 and stdout == ACK
    assert stderr.startswith(b"Received response packet '") and stderr.endswith(b"Aborting.\n")


def test_end_of_input_between_packets_is_a_quiet_exit():
    # Deviation: the reference says "Unexpected EOF" and exits 3.
    assert raw_session(agent_command(), ALIVE * 3) == (0, ACK * 3, b"")


def test_huge_list_count_ends_the_session_without_allocating():
    data = (8).to_bytes(4, "big") + (2**62).to_bytes(8, "big")
    status, stdout, stderr = raw_session(agent_command(), data)
    assert status == 3 and stdout == b"" and b"list elements" in stderr


def test_exit_and_debug_lines():
    status, stdout, stderr = raw_session(agent_command("--debug"), ALIVE + encode(td.PacketExit()))
    expected = raw_session(reference_command("--debug"), ALIVE + encode(td.PacketExit()))
    # Our first line names the SHA-512 code in use; the rest is the reference's, line for line.
    first, rest = stderr.split(b"\n", 1)
    assert b"SHA-512: " in first and b"tunnel-dispatcher" in first
    assert (status, stdout, rest) == expected


def test_debug_never_shows_contents(tmp_path):
    secret = b"TOP-SECRET-CONTENT"
    data = encode(td.PacketUpload(file=str(tmp_path / "f"), content=secret, mode=None, owner=None, group=None),
                  run(["cat"], stdin=secret), td.PacketQueryUser(user="root", query_password_hash=True),
                  td.PacketExit())
    status, stdout, stderr = raw_session(agent_command("--debug"), data)
    assert status == 0 and b"REMOTE" in stderr
    assert secret not in stderr
    hash_ = subprocess.run(["getent", "shadow", "root"], capture_output=True).stdout.split(b":")[1]
    if len(hash_) > 4:
        assert hash_ not in stderr


def test_version_and_help():
    assert subprocess.run(agent_command("--version"), capture_output=True).stdout.startswith(b"tunnel-dispatcher ")
    assert b"usage:" in subprocess.run(agent_command("--help"), capture_output=True).stdout


# --- Bad field values: InvalidField, and the session goes on -----------------------------

def raw_string(data):
    return len(data).to_bytes(8, "big") + data


@pytest.mark.parametrize("body,field", [
    ((10).to_bytes(4, "big") + raw_string(b"/tmp/\xff") + b"\x00\x00", "path"),
    ((22).to_bytes(4, "big") + raw_string(b"\xc0\x80"), "key"),
    ((16).to_bytes(4, "big") + raw_string(b"/etc/\xed\xa0\x80"), "file"),
])
def test_invalid_utf8_is_an_invalid_field(body, field):
    status, stdout, stderr = raw_session(agent_command(), body + ALIVE)
    reply = td.receive_packet.__globals__["packet_deserializers"][int.from_bytes(stdout[:4], "big")]
    assert status == 0 and stdout.endswith(ACK)
    assert int.from_bytes(stdout[:4], "big") == 5


@pytest.mark.parametrize("packet,field", [
    (run([]), "command"),
    (run(["ec\0ho"]), "command"),
    (run(["pwd"], cwd="/tmp\0x"), "cwd"),
    (td.PacketStat(path="/etc\0/passwd", follow_links=False, sha512sum=False), "path"),
    (td.PacketDownload(file="/etc/pass\0wd"), "file"),
    (td.PacketUpload(file="/tmp/up\0load", content=b"x", mode=None, owner=None, group=None), "file"),
])
def test_nul_bytes_and_empty_commands(agent, packet, field):
    answer = agent.request(packet)
    assert isinstance(answer, td.PacketInvalidField) and answer.field == field
    assert isinstance(agent.request(td.PacketCheckAlive()), td.PacketAck)


def test_getenv_with_a_nul_byte_is_unset(agent):
    # The reference dies (ValueError); Python's os.getenv would find nothing either.
    assert agent.request(td.PacketGetenv(key="PA\0TH")) == td.PacketEnvironVar(value=None)


def test_user_whose_primary_group_is_missing(agent, user_without_primary_group):
    if user_without_primary_group is None:
        pytest.skip("needs root to create the user")
    answer = agent.request(td.PacketQueryUser(user=user_without_primary_group, query_password_hash=False))
    assert answer == td.PacketInvalidField(field="user", error_message="The user's primary group doesn't exist")


# --- Processes: hygiene beyond the reference ---------------------------------------------

def test_child_has_only_fds_0_to_2(agent):
    answer = agent.request(run(["sh", "-c", "ls /proc/$$/fd"]))
    assert answer.stdout.split() == [b"0", b"1", b"2"]


def test_child_gets_default_signal_dispositions(agent):
    answer = agent.request(run(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]))
    assert answer.stdout == b"SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


def test_stdin_absent_is_dev_null(agent):
    start = time.monotonic()
    answer = agent.request(run(["cat"]))
    assert answer.stdout == b"" and answer.returncode == 0
    assert time.monotonic() - start < 5


def test_uncaptured_output_never_reaches_the_stream():
    data = encode(run(["sh", "-c", "echo to-stdout; echo to-stderr >&2"], capture_output=False), td.PacketExit())
    status, stdout, stderr = raw_session(agent_command(), data)
    assert status == 0
    assert stdout == encode(td.PacketProcessCompleted(stdout=None, stderr=None, returncode=0))
    assert stderr == b"to-stdout\nto-stderr\n"


@pytest.mark.skipif(os.getuid() != 0, reason="switching users needs root")
def test_switching_user_drops_the_agents_groups(agent, unprivileged_user):
    answer = agent.request(run(["id", "-G"], user=unprivileged_user))
    import pwd
    assert answer.stdout.split() == [str(pwd.getpwnam(unprivileged_user).pw_gid).encode()]
    answer = agent.request(run(["id", "-G"], group="nogroup"))
    assert answer.stdout.split() == [b"65534"]


def test_64_mib_both_ways(agent):
    content = os.urandom(64 << 20)
    answer = agent.request(run(["cat"], stdin=content))
    assert answer.returncode == 0 and answer.stdout == content and answer.stderr == b""


def test_large_stderr_and_stdout_together_do_not_deadlock(agent):
    script = "head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2"
    answer = agent.request(run(["sh", "-c", script], stdin=os.urandom(5 << 20)))
    assert len(answer.stdout) == 5000000 and len(answer.stderr) == 5000000


def test_child_that_ignores_stdin(agent):
    answer = agent.request(run(["true"], stdin=os.urandom(8 << 20)))
    assert answer.returncode == 0
    assert isinstance(agent.request(td.PacketCheckAlive()), td.PacketAck)


# --- Uploads: atomic and streamed ----------------------------------------------------------

def start_half_an_upload(directory):
    """An agent that has received half of a 1 MiB upload over `directory`/f ("old content")."""
    target = directory / "f"
    target.write_bytes(b"old content")
    data = encode(td.PacketUpload(file=str(target), content=os.urandom(1 << 20), mode=None, owner=None, group=None))
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(data[: len(data) // 2])
    process.stdin.flush()
    return process, target


def test_interrupted_upload_leaves_old_file_and_no_temporary(tmp_path):
    process, target = start_half_an_upload(tmp_path)
    assert wait_until(lambda: open_files_below(process.pid, tmp_path)), "the upload never began"
    process.stdin.close()   # the client goes away mid-content
    assert process.wait(timeout=10) == 3
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_agent_killed_mid_upload_leaves_no_temporary(tmp_path, sig):
    process, target = start_half_an_upload(tmp_path)
    assert wait_until(lambda: open_files_below(process.pid, tmp_path)), "the agent never opened its temporary"
    process.send_signal(sig)
    assert process.wait(timeout=10) == -sig
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["f"]


def test_invalid_field_after_content_leaves_old_file(agent, tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    answer = agent.request(td.PacketUpload(file=str(target), content=b"new", mode="bad", owner=None, group=None))
    assert isinstance(answer, td.PacketInvalidField) and answer.field == "mode"
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


@pytest.mark.skipif(os.getuid() != 0, reason="mounting a tmpfs needs root")
def test_disk_full_is_an_os_error_and_keeps_the_old_file(agent):
    mount = Path(tempfile.mkdtemp(prefix="tunnel-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        target = mount / "f"
        target.write_bytes(b"old")
        answer = agent.request(td.PacketUpload(file=str(target), content=os.urandom(2 << 20), mode=None, owner=None, group=None))
        assert isinstance(answer, td.PacketOSError) and answer.errno == 28
        assert target.read_bytes() == b"old" and os.listdir(mount) == ["f"]
        assert isinstance(agent.request(td.PacketCheckAlive()), td.PacketAck)
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


@pytest.mark.skipif(os.getuid() != 0, reason="chown needs root")
def test_group_only_upload_keeps_the_owner(agent, tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chown(target, 65534, 0)
    assert isinstance(agent.request(td.PacketUpload(file=str(target), content=b"new", mode=None, owner=None, group="adm")), td.PacketOk)
    info = os.stat(target)
    assert (info.st_uid, info.st_gid) == (65534, 4)


def test_hard_link_keeps_old_content(agent, tmp_path):
    (tmp_path / "a").write_bytes(b"old")
    os.link(tmp_path / "a", tmp_path / "b")
    agent.request(td.PacketUpload(file=str(tmp_path / "a"), content=b"new", mode=None, owner=None, group=None))
    assert (tmp_path / "a").read_bytes() == b"new" and (tmp_path / "b").read_bytes() == b"old"


# --- SHA-512 against hashlib on every length ---------------------------------------------------

def test_sha512_every_length_against_hashlib(agent, tmp_path):
    import hashlib
    data = os.urandom(1001)
    path = tmp_path / "f"
    for length in range(0, 1001):
        path.write_bytes(data[:length])
        answer = agent.request(td.PacketStat(path=str(path), follow_links=False, sha512sum=True))
        assert answer.sha512sum == hashlib.sha512(data[:length]).digest(), length


# --- getent fallback -----------------------------------------------------------------------------

FAKE_GETENT = """#!/bin/sh
echo "$@" >> "{log}"
case "$1 $2" in
  "passwd ghost"|"passwd 4242") echo "ghost:x:4242:4242:Ghost:/home/ghost:/bin/sh" ;;
  "group ghosts"|"group 4242") echo "ghosts:x:4242:ghost,other" ;;
  "passwd broken") echo "broken:x:notanumber:1::/:/bin/sh" ;;
  *) exit 2 ;;
esac
"""


@pytest.fixture
def fake_getent(tmp_path):
    log = tmp_path / "calls"
    script = tmp_path / "bin" / "getent"
    script.parent.mkdir()
    script.write_text(FAKE_GETENT.format(log=log))
    script.chmod(0o755)
    env = dict(os.environ, PATH=f"{script.parent}:{os.environ['PATH']}")
    dispatcher = Dispatcher(agent_command(), env=env)
    yield dispatcher, log
    dispatcher.close()


def test_getent_fallback_finds_nss_only_users(fake_getent):
    agent, log = fake_getent
    assert agent.request(td.PacketResolveUser(user="ghost")).value == "ghost"
    assert agent.request(td.PacketResolveUser(user="4242")).value == "ghost"
    assert agent.request(td.PacketQueryGroup(group="ghosts")) == td.PacketGroupEntry(name="ghosts", gid=4242, members=["ghost", "other"])
    assert isinstance(agent.request(td.PacketResolveUser(user="broken")), td.PacketInvalidField)
    assert isinstance(agent.request(td.PacketResolveUser(user="-x")), td.PacketInvalidField)
    assert "-x" not in log.read_text()


def test_getent_not_asked_when_the_files_answer(fake_getent):
    agent, log = fake_getent
    assert agent.request(td.PacketResolveUser(user="root")).value == "root"
    assert agent.request(td.PacketResolveGroup(group="0")).value == "root"
    assert not log.exists()


# --- An empty root: the binary alone, with test /etc files --------------------------------------

@pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")
def test_serves_from_an_empty_chroot():
    root = Path(tempfile.mkdtemp(prefix="tunnel-chroot-"))
    try:
        shutil.copy(AGENT, root / "tunnel-dispatcher")
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text(
            "garbage line without colons\n"
            "root:x:0:0:root:/root:/bin/sh\n"
            "short:x:5\n"
            ":x:6:6::/:/bin/sh\n"
            "alice:x:1000:1000:Alice,,,:/home/alice:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\nbroken\nstaff:x:50:alice,bob\nalice:x:1000:\n")
        (root / "etc" / "shadow").write_text("alice:$6$abc$def:19000:0:99999:7:::\n")
        data = encode(td.PacketCheckAlive(), td.PacketResolveUser(user="alice"), td.PacketResolveUser(user="short"),
                      td.PacketQueryUser(user="1000", query_password_hash=True), td.PacketQueryGroup(group="staff"),
                      td.PacketStat(path="/tunnel-dispatcher", follow_links=False, sha512sum=False),
                      run(["true"]),
                      # No /proc here: the upload takes the named-temporary path.
                      td.PacketUpload(file="/etc/motd", content=b"hello", mode="644", owner=None, group=None),
                      td.PacketExit())
        result = subprocess.run(["chroot", str(root), "/tunnel-dispatcher"], input=data, capture_output=True, timeout=20)
        assert result.returncode == 0, result.stderr

        class Stream:
            def __init__(self, data):
                self.data, self.pos = data, 0

            def read(self, n):
                chunk = self.data[self.pos:self.pos + n]
                self.pos += n
                return chunk

        conn = td.Connection(Stream(result.stdout), None)

        def next_packet():
            return td.packet_deserializers[int.from_bytes(conn.read(4), "big")](conn)

        assert isinstance(next_packet(), td.PacketAck)
        assert next_packet().value == "alice"
        assert isinstance(next_packet(), td.PacketInvalidField)
        assert next_packet() == td.PacketUserEntry(name="alice", uid=1000, group="alice", gid=1000, groups=["staff"],
                                                   password_hash="$6$abc$def", gecos="Alice,,,", home="/home/alice", shell="/bin/sh")
        assert next_packet() == td.PacketGroupEntry(name="staff", gid=50, members=["alice", "bob"])
        assert next_packet().type == "file"
        failed = next_packet()
        assert isinstance(failed, td.PacketOSError) and failed.msg == "[Errno 2] No such file or directory: 'true'"
        assert isinstance(next_packet(), td.PacketOk)
        assert (root / "etc" / "motd").read_bytes() == b"hello"
        assert sorted(os.listdir(root / "etc")) == ["group", "motd", "passwd", "shadow"]
    finally:
        shutil.rmtree(root)


# --- fora's own client class drives the agent unchanged -----------------------------------------

class AgentConnector(TunnelConnector):
    """fora's TunnelConnector with our binary as the transport command."""
    def __init__(self):  # pylint: disable=super-init-not-called
        self.process = None
        self.is_open = False

    def command(self):
        return agent_command()

    def open(self):
        self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.conn = td.Connection(self.process.stdout, self.process.stdin)
        assert isinstance(self._request(td.PacketCheckAlive()), td.PacketAck)
        self.is_open = True


def test_fora_client_class(tmp_path):
    import fora

    class Args:
        debug = False
    fora.args = Args()
    connector = AgentConnector()
    connector.open()
    try:
        assert connector.run(["echo", "abc"]).stdout == b"abc\n"
        assert connector.run(["cat"], input=b"test\nb").stdout == b"test\nb"
        assert connector.run(["pwd"], cwd="/var/tmp").stdout == b"/var/tmp\n"
        with pytest.raises(subprocess.CalledProcessError):
            connector.run(["false"])
        with pytest.raises(td.RemoteOSError) as error:
            connector.run(["echo test"])
        assert error.value.errno == 2
        assert connector.resolve_user("0") == "root"
        assert connector.resolve_group("0") == "root"
        with pytest.raises(ValueError):
            connector.resolve_user("_invalid_")
        path = str(tmp_path / "upload")
        for n in [0, 1, 8, 32, 128, 1024, 1024 * 32, 1024 * 256]:
            content = os.urandom(n)
            connector.upload(path, content)
            assert connector.download(path) == content
            import hashlib
            assert connector.stat(path, sha512sum=True).sha512sum == hashlib.sha512(content).digest()
        assert connector.stat(str(tmp_path / "missing")) is None
        assert connector.query_user("root").uid == 0
        assert connector.query_group("root").gid == 0
        assert connector.getenv("PATH") == os.environ["PATH"]
        assert connector.getenv("NO_SUCH_VARIABLE") is None
    finally:
        connector.close()
    assert connector.process is None

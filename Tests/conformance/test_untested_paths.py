"""Paths no test reached before (issue 21): a negative mtime in SetMetadata, a failed member
of a durable upload group, a user in more than 64 supplementary groups, and spools that
cannot get their scratch file (through the wire: Spool itself is Session's)."""
import grp
import io
import os
import pwd
import resource
import subprocess

import pytest

import extensions as x
from harness import AGENT, Dispatcher, agent_command, encode, reference_command, td


def answers(*packets, options=()):
    result = subprocess.run([str(AGENT), *options], input=b"".join(packets), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    return [reader.answer() for _ in packets]


@pytest.mark.parametrize("mtime", [-1, -1_500_000_000, -86_400 * 365 * 10**9 - 7])
def test_set_metadata_takes_an_mtime_before_the_epoch(tmp_path, mtime):
    """The nanoseconds of a negative time are carried into the seconds (timespec's tv_nsec
    must be 0...999,999,999), so the file gets exactly the time asked for."""
    target = tmp_path / "f"
    target.write_bytes(b"x")
    assert answers(x.set_metadata(bytes(target), mtime=mtime)) == [("Ok", {})]
    assert os.lstat(target).st_mtime_ns == mtime


def upload(path, content):
    return encode(td.PacketUpload(file=str(path), content=content, mode="600", owner=None, group=None))


def test_a_failed_member_of_a_durable_upload_group(tmp_path):
    """Pipelined uploads in durable mode are one group: the member that fails is answered
    with its own OSError, in its place, and the others still land."""
    replies = answers(upload(tmp_path / "a", b"first"), upload(tmp_path / "missing" / "b", b"lost"),
                      upload(tmp_path / "c", b"third"), options=("--durable",))
    assert replies[0] == ("Ok", {}) and replies[2] == ("Ok", {})
    assert replies[1] == ("OSError", dict(errno=2, strerror="No such file or directory",
                                          msg=f"[Errno 2] No such file or directory: '{tmp_path}/missing/b'"))
    assert (tmp_path / "a").read_bytes() == b"first" and (tmp_path / "c").read_bytes() == b"third"
    assert sorted(os.listdir(tmp_path)) == ["a", "c"]


MANY_GROUPS_USER = "tunnel-groups"
MANY_GROUPS = [f"tunnel-g{index}" for index in range(70)]


@pytest.fixture(scope="module")
def user_in_many_groups():
    """A user of its own in 70 supplementary groups (getgrouplist's first guess is 64)."""
    if os.getuid() != 0:
        pytest.skip("needs root to create the user and its groups")
    subprocess.run(["userdel", MANY_GROUPS_USER], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", MANY_GROUPS_USER], check=True)
    try:
        for group in MANY_GROUPS:
            subprocess.run(["groupdel", group], capture_output=True)
            subprocess.run(["groupadd", "-U", MANY_GROUPS_USER, group], check=True)
        yield MANY_GROUPS_USER
    finally:
        subprocess.run(["userdel", MANY_GROUPS_USER], capture_output=True)
        for group in MANY_GROUPS:
            subprocess.run(["groupdel", group], capture_output=True)


def test_more_than_64_supplementary_groups(user_in_many_groups):
    """A run as the user gets all of its groups (docs/security.md: initgroups-style, a
    deliberate deviation: the reference leaves only the primary group), and QueryUser lists
    them as the reference does."""
    entry = pwd.getpwnam(user_in_many_groups)
    run = td.PacketProcessRun(command=["id", "-G"], stdin=None, capture_output=True, user=user_in_many_groups,
                              group=None, umask=None, cwd=None)
    query = td.PacketQueryUser(user=user_in_many_groups, query_password_hash=False)
    with Dispatcher(agent_command()) as agent:
        completed, listed = agent.request(run), agent.request(query)
        agent.close()
    with Dispatcher(reference_command()) as reference:
        assert reference.request(query) == listed
        reference.close()
    expected = {entry.pw_gid, *(grp.getgrnam(group).gr_gid for group in MANY_GROUPS)}
    assert completed.returncode == 0 and sorted(map(int, completed.stdout.split())) == sorted(expected)
    assert sorted(listed.groups) == sorted(MANY_GROUPS)


def with_descriptors(limit):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return set_limit


def test_a_spool_that_cannot_get_its_scratch_file_is_refused_and_the_session_goes_on():
    """Beyond 1 MiB a spool moves to an unnamed scratch file; with no descriptor left for it
    (RLIMIT_NOFILE 3: only fds 0-2), ProcessRun's stdin cannot be stored: OSError 24, no
    command runs, and the next request is answered."""
    data = encode(td.PacketProcessRun(command=["wc", "-c"], stdin=b"x" * (2 << 20), capture_output=True, user=None,
                                      group=None, umask=None, cwd=None),
                  td.PacketCheckAlive(), td.PacketExit())
    result = subprocess.run([str(AGENT)], input=data, capture_output=True, timeout=60, preexec_fn=with_descriptors(3))
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    assert reader.answer() == ("OSError", dict(errno=24, strerror="Too many open files",
                                               msg="[Errno 24] Too many open files"))
    assert reader.take(4) == b"\x00\x00\x00\x01"   # Ack
    assert reader.stream.read() == b""


def test_a_download_read_to_its_end_that_cannot_spool_is_refused(tmp_path):
    """A fifo's content is read to its end first (its size is unknown); past 1 MiB that needs
    a scratch file, which RLIMIT_NOFILE 4 leaves no room for once the fifo is open."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"head -c 3000000 /dev/zero > '{fifo}'"])
    try:
        data = encode(td.PacketDownload(file=str(fifo)), td.PacketCheckAlive(), td.PacketExit())
        result = subprocess.run([str(AGENT)], input=data, capture_output=True, timeout=60,
                                preexec_fn=with_descriptors(4))
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    name, fields = reader.answer()
    # Not naming the fifo: its open worked; storing what it gave did not.
    assert (name, fields["errno"], fields["msg"]) == ("OSError", 24, "[Errno 24] Too many open files"), fields
    assert reader.take(4) == b"\x00\x00\x00\x01"   # Ack

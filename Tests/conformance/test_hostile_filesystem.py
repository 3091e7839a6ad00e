"""The agent as root on a filesystem where other users own directories (issue 9).

Each test reproduces one problem an attacker's probe found. The attacks run as the
unprivileged test user against the agent running as root; where the reference is the
yardstick ("never easier to trick than the kernel's own open()"), it runs the same request.
Everything here needs root (sysctls, chown, mounts): elsewhere the tests skip, saying why.
"""
import contextlib
import os
import pwd
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import (AGENT, TEST_USER, Dispatcher, agent_command, encode, open_files_below, reference_command,
                     wait_until)

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="the attacks need root: sysctls, chown, mounts")


def upload(path, content, mode=None, owner=None, group=None):
    return td.PacketUpload(file=path, content=content, mode=mode, owner=owner, group=group)


@pytest.fixture
def attacker(unprivileged_user):
    """The unprivileged test user's (uid, gid)."""
    entry = pwd.getpwnam(unprivileged_user)
    return entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def sysctl(name, value):
    path = Path("/proc/sys") / name.replace(".", "/")
    old = path.read_text().strip()
    path.write_text(str(value))
    try:
        yield
    finally:
        path.write_text(old)


def sticky_directory(tmp_path):
    """A world-writable sticky directory owned by root, like /tmp."""
    directory = tmp_path / "sticky"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


def same_answer(agent, reference, packet):
    expected, actual = reference.request(packet), agent.request(packet)
    assert actual == expected
    return actual


# --- 1. The kernel's link protections apply ------------------------------------------------

def test_protected_symlinks_stop_a_users_link_in_a_sticky_directory(agent, reference, tmp_path, attacker):
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's file")
    directory = sticky_directory(tmp_path)
    link = directory / "link"
    os.symlink(victim, link)
    os.lchown(link, *attacker)
    with sysctl("fs.protected_symlinks", 1):
        answer = same_answer(agent, reference, upload(str(link), b"attacker wins"))
    assert isinstance(answer, td.PacketOSError) and answer.errno == 13
    assert victim.read_bytes() == b"root's file"
    assert sorted(os.listdir(directory)) == ["link"]


def test_protected_regular_stops_writing_into_a_users_file_in_a_sticky_directory(agent, reference, tmp_path, attacker):
    directory = sticky_directory(tmp_path)
    planted = directory / "planted"
    planted.write_bytes(b"the user's")
    os.chown(planted, *attacker)
    planted.chmod(0o666)
    with sysctl("fs.protected_regular", 2):
        answer = same_answer(agent, reference, upload(str(planted), b"root's secret"))
    assert isinstance(answer, td.PacketOSError) and answer.errno == 13
    assert planted.read_bytes() == b"the user's"
    assert sorted(os.listdir(directory)) == ["planted"]


# --- 2. A directory swapped mid-upload changes nothing ----------------------------------------

@pytest.fixture
def shared_tmp():
    """A directory below which the unprivileged user can reach what it owns (pytest's own
    tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="tunnel-hostile-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def test_directory_swapped_mid_upload_does_not_redirect_the_file(shared_tmp, attacker):
    tmp_path = shared_tmp
    home = tmp_path / "home"            # the user's own directory
    (home / "sub").mkdir(parents=True)
    target = home / "sub" / "authorized_keys"
    target.write_bytes(b"old keys")
    for path in (home, home / "sub", target):
        os.chown(path, *attacker)
    target.chmod(0o666)
    elsewhere = tmp_path / "root-only"  # where the user would like root's file to land
    elsewhere.mkdir()

    content = b"root's keys\n" * 100_000
    data = encode(upload(str(target), content))
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(data[: len(data) // 2])
        process.stdin.flush()
        # Mid-upload: the agent holds its temporary in sub/ (resolved once, by descriptor).
        assert wait_until(lambda: open_files_below(process.pid, home / "sub")), "the upload never began"
        # The user swaps the directory for a link to where they want root's file.
        subprocess.run(["setpriv", f"--reuid={attacker[0]}", f"--regid={attacker[1]}", "--clear-groups",
                        "sh", "-c", f"mv '{home}/sub' '{home}/sub.old' && ln -s '{elsewhere}' '{home}/sub'"],
                       check=True)
        process.stdin.write(data[len(data) // 2:] + encode(td.PacketExit()))
        process.stdin.close()
        answer = td.packet_deserializers[int.from_bytes(process.stdout.read(4), "big")](
            td.Connection(process.stdout, None))
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert os.listdir(elsewhere) == []
    assert isinstance(answer, (td.PacketOk, td.PacketOSError))
    if isinstance(answer, td.PacketOk):
        assert (home / "sub.old" / "authorized_keys").read_bytes() == content
    else:
        assert (home / "sub.old" / "authorized_keys").read_bytes() == b"old keys"
    assert sorted(os.listdir(home / "sub.old")) == ["authorized_keys"]


# --- 3. Link targets are bytes ----------------------------------------------------------------

def test_symlink_with_a_non_utf8_target(agent, reference, tmp_path):
    for side in ("agent", "ref"):
        directory = tmp_path / side
        directory.mkdir()
        os.symlink(b"caf\xe9.conf", os.path.join(bytes(directory), b"link.conf"))
        with open(os.path.join(bytes(directory), b"caf\xe9.conf"), "wb") as f:
            f.write(b"old")
    expected = reference.request(upload(str(tmp_path / "ref" / "link.conf"), b"new"))
    actual = agent.request(upload(str(tmp_path / "agent" / "link.conf"), b"new"))
    assert actual == expected == td.PacketOk()
    for side in ("agent", "ref"):
        directory = bytes(tmp_path / side)
        assert sorted(os.listdir(directory)) == [b"caf\xe9.conf", b"link.conf"]
        with open(os.path.join(directory, b"caf\xe9.conf"), "rb") as f:
            assert f.read() == b"new"


# --- 4. Metadata is kept ----------------------------------------------------------------------

def getfacl(path):
    return subprocess.run(["getfacl", "--omit-header", "--numeric", str(path)], capture_output=True, text=True,
                          check=True).stdout


def test_extended_attributes_and_acls_of_the_replaced_file_are_kept(agent, tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.setxattr(target, "user.origin", b"deployed")
    subprocess.run(["setfacl", "-m", f"u:{TEST_USER}:rw", str(target)], check=True)
    acl = getfacl(target)
    assert isinstance(agent.request(upload(str(target), b"new")), td.PacketOk)
    assert target.read_bytes() == b"new"
    assert os.getxattr(target, "user.origin") == b"deployed"
    assert getfacl(target) == acl


def test_new_file_in_a_directory_with_a_default_acl(agent, reference, tmp_path):
    for side in ("agent", "ref"):
        (tmp_path / side).mkdir()
        subprocess.run(["setfacl", "-d", "-m", f"u:{TEST_USER}:rw", str(tmp_path / side)], check=True)
    assert reference.request(upload(str(tmp_path / "ref" / "new"), b"x")) == td.PacketOk()
    assert agent.request(upload(str(tmp_path / "agent" / "new"), b"x")) == td.PacketOk()
    acl = getfacl(tmp_path / "agent" / "new")
    assert "mask::rw-" in acl
    assert acl == getfacl(tmp_path / "ref" / "new")
    assert os.stat(tmp_path / "agent" / "new").st_mode == os.stat(tmp_path / "ref" / "new").st_mode


# --- 5. Uploads that the reference manages --------------------------------------------------------

@pytest.mark.parametrize("exists", [False, True])
def test_names_of_255_bytes(agent, tmp_path, exists):
    target = tmp_path / ("n" * 255)
    if exists:
        target.write_bytes(b"old")
    assert agent.request(upload(str(target), b"new")) == td.PacketOk()
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == [target.name]


def test_bind_mounted_file(agent, tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(b"old")
    target.write_bytes(b"")
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        assert agent.request(upload(str(target), b"new content")) == td.PacketOk()
        assert target.read_bytes() == b"new content"
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert source.read_bytes() == b"new content"
    assert sorted(os.listdir(tmp_path)) == ["source", "target"]


def test_proc_file_of_a_child(agent):
    child = subprocess.Popen(["sleep", "30"])
    try:
        path = f"/proc/{child.pid}/oom_score_adj"
        assert agent.request(upload(path, b"7\n")) == td.PacketOk()
        assert Path(path).read_text() == "7\n"
    finally:
        child.kill()
        child.wait()


# --- 6. Endless sources stop at the first error ------------------------------------------------

@contextlib.contextmanager
def small_tmpfs(size="1m"):
    mount = Path(tempfile.mkdtemp(prefix="tunnel-small-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
        mount.rmdir()


def tmpfs_used_bytes(mount):
    info = os.statvfs(mount)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


@pytest.mark.parametrize("packet", [
    td.PacketDownload(file="/dev/zero"),
    td.PacketDownload(file="/proc/self/pagemap"),
    td.PacketProcessRun(command=["cat", "/dev/zero"], stdin=None, capture_output=True, user=None, group=None,
                        umask=None, cwd=None),
], ids=["dev-zero", "pagemap", "cat-dev-zero"])
def test_endless_source_with_a_full_temporary_directory(packet):
    with small_tmpfs() as mount:
        env = dict(os.environ, TMPDIR=str(mount))
        with Dispatcher(agent_command(), env=env) as agent:
            agent.send(packet)
            answer = agent.receive()
            assert isinstance(answer, td.PacketOSError) and answer.errno == 28, answer
            assert tmpfs_used_bytes(mount) < 64 * 1024
            assert agent.request(td.PacketCheckAlive()) == td.PacketAck()
            agent.close()


def test_endless_non_regular_file_stops_at_the_cap():
    # The temporary directory is larger than the cap, so the cap is what stops it.
    with small_tmpfs("160m") as mount:
        with Dispatcher(agent_command(), env=dict(os.environ, TMPDIR=str(mount))) as agent:
            answer = agent.request(td.PacketDownload(file="/dev/zero"))
            assert isinstance(answer, td.PacketOSError) and answer.errno == 27, answer
            assert tmpfs_used_bytes(mount) < 64 * 1024
            assert agent.request(td.PacketCheckAlive()) == td.PacketAck()
            agent.close()


# --- 7. RLIMIT_FSIZE ---------------------------------------------------------------------------

def test_file_size_limit_is_an_os_error(tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
    answers = []
    for command in (agent_command(), reference_command()):
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=limit)
        dispatcher = Dispatcher.__new__(Dispatcher)
        dispatcher.process, dispatcher.conn = process, td.Connection(process.stdout, process.stdin)
        answer = dispatcher.request(upload(str(tmp_path / "big"), os.urandom(1 << 17)))
        assert dispatcher.request(td.PacketCheckAlive()) == td.PacketAck()
        dispatcher.close()
        answers.append(answer)
    assert isinstance(answers[0], td.PacketOSError) and answers[0].errno == 27
    assert answers[0].errno == answers[1].errno


# --- 8. Smaller problems --------------------------------------------------------------------------

def test_names_of_unnamed_ids_are_looked_up_once_per_session(tmp_path):
    log = tmp_path / "calls"
    getent = tmp_path / "bin" / "getent"
    getent.parent.mkdir()
    getent.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexit 2\n')
    getent.chmod(0o755)
    target = tmp_path / "orphan"
    target.write_bytes(b"")
    os.chown(target, 54321, 54321)
    env = dict(os.environ, PATH=f"{getent.parent}:{os.environ['PATH']}")
    with Dispatcher(agent_command(), env=env) as agent:
        for _ in range(5):
            answer = agent.request(td.PacketStat(path=str(target), follow_links=False, sha512sum=False))
            assert (answer.owner, answer.group) == ("54321", "54321")
        agent.close()
    assert sorted(log.read_text().splitlines()) == ["group 54321", "passwd 54321"]


def test_a_megabyte_of_spaces_as_a_user_name(agent):
    agent.send(td.PacketResolveUser(user=" " * ((1 << 20) - 1) + "0"))
    process = agent.process
    deadline = time.monotonic() + 10   # a hang guard, not a timing assertion: it took 31 s
    import select
    ready, _, _ = select.select([process.stdout], [], [], max(0, deadline - time.monotonic()))
    assert ready, "no answer within 10 s"
    assert agent.receive() == td.PacketResolveResult(value="root")


def test_closed_stderr_at_start_becomes_dev_null():
    process = subprocess.Popen(agent_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, close_fds=True,
                               preexec_fn=lambda: os.close(2))
    try:
        conn = td.Connection(process.stdout, process.stdin)
        conn.write_packet(td.PacketProcessRun(command=["true"], stdin=b"x", capture_output=True, user=None,
                                              group=None, umask=None, cwd=None))
        # While the agent is up, fd 2 is /dev/null, never one of its own pipes.
        conn.write_packet(td.PacketCheckAlive())
        td.packet_deserializers[int.from_bytes(conn.read(4), "big")](conn)
        td.packet_deserializers[int.from_bytes(conn.read(4), "big")](conn)
        assert os.readlink(f"/proc/{process.pid}/fd/2") == "/dev/null"
        assert os.readlink(f"/proc/{process.pid}/fd/0").startswith("pipe:")
        conn.write_packet(td.PacketExit())
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_mtime_before_1970_is_not_a_huge_number(agent, tmp_path):
    target = tmp_path / "old"
    target.write_bytes(b"")
    os.utime(target, ns=(0, -86400 * 365 * 10**9))
    answer = agent.request(td.PacketStat(path=str(target), follow_links=False, sha512sum=False))
    assert answer.mtime == 0


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGUSR1, signal.SIGALRM, signal.SIGTERM])
def test_fatal_signals_leave_no_named_temporary_in_a_chroot(sig, attacker):
    """Without /proc (a bare chroot) an unprivileged agent cannot name an unnamed file
    later, so the upload's temporary has a name from the start; a fatal signal must not
    leave it behind."""
    root = Path(tempfile.mkdtemp(prefix="tunnel-chroot-"))
    root.chmod(0o755)
    try:
        shutil.copy(AGENT, root / "tunnel-dispatcher")
        (root / "data").mkdir()
        (root / "data" / "f").write_bytes(b"old")
        for path in (root / "data", root / "data" / "f"):
            os.chown(path, *attacker)
        data = encode(upload("/data/f", os.urandom(1 << 20)))
        process = subprocess.Popen(["chroot", f"--userspec={attacker[0]}:{attacker[1]}", str(root),
                                    "/tunnel-dispatcher"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdin.write(data[: len(data) // 2])
        process.stdin.flush()
        assert wait_until(lambda: len(os.listdir(root / "data")) == 2), "the named temporary never appeared"
        process.send_signal(sig)
        assert process.wait(timeout=10) == -sig
        assert sorted(os.listdir(root / "data")) == ["f"]
        assert (root / "data" / "f").read_bytes() == b"old"
    finally:
        shutil.rmtree(root)


# --- Deviations the descriptor-based upload brings (docs/protocol.md) -------------------------

def test_upload_over_a_running_program_replaces_it(agent, reference, tmp_path):
    program = tmp_path / "program"
    shutil.copy("/bin/sleep", program)
    running = subprocess.Popen([str(program), "30"])
    try:
        expected = reference.request(upload(str(program), b"#!/bin/sh\n"))
        assert isinstance(expected, td.PacketOSError) and expected.errno == 26   # ETXTBSY
        assert agent.request(upload(str(program), b"#!/bin/sh\n")) == td.PacketOk()
        assert program.read_bytes() == b"#!/bin/sh\n"
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()


def test_upload_to_a_fifo_without_reader_is_an_error_not_a_hang(agent, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    answer = agent.request(upload(str(tmp_path / "fifo"), b"data"))
    assert isinstance(answer, td.PacketOSError) and answer.errno == 6   # ENXIO
    assert agent.request(td.PacketCheckAlive()) == td.PacketAck()


def test_failed_upload_through_a_dangling_link_creates_nothing(agent, reference, tmp_path):
    for side in ("agent", "ref"):
        (tmp_path / side).mkdir()
        os.symlink("target", tmp_path / side / "link")
    expected = reference.request(upload(str(tmp_path / "ref" / "link"), b"data", mode="bad"))
    actual = agent.request(upload(str(tmp_path / "agent" / "link"), b"data", mode="bad"))
    assert actual == expected
    assert isinstance(actual, td.PacketInvalidField)
    for side in ("agent", "ref"):
        assert os.listdir(tmp_path / side) == ["link"]

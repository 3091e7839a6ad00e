"""The restricted agent (issue 24): --read-only, --allow/--deny, --root, --log, through fora's own
Python client, the extension codec and `tunnel`, and a forced-command key on a real sshd."""
import argparse
import os
import shutil
import socket
import subprocess
import threading
import types
from pathlib import Path

import pytest

import fora
from fora.connectors import tunnel_dispatcher as td
from fora.connectors.tunnel_connector import TunnelConnector

import extensions as x
from harness import AGENT, ROOT
from test_extensions import Agent

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))
MARKER = b"uploaded-marker-7f3a9c"


class ForaClient(TunnelConnector):
    """fora's own client (its TunnelConnector: requests, answers, exceptions) on the agent
    started with `options`."""
    schema = "restricted-test"

    def __init__(self, *options, cwd=None):
        if getattr(fora, "args", None) is None:
            fora.args = argparse.Namespace(debug=False, no_color=True, verbose=0)
        super().__init__(None, types.SimpleNamespace(name="restricted", url="test"))
        self.options = options

    def command(self):
        return [str(AGENT), *self.options]


@pytest.fixture
def fora_client(request):
    clients = []

    def start(*options):
        client = ForaClient(*options)
        client.open()
        clients.append(client)
        return client
    yield start
    for client in clients:
        client.close()


def refused_by(option):
    return f"refused by the agent's {option}"


# --read-only


def test_read_only_through_foras_client_refuses_writes_and_stays_in_step(fora_client, tmp_path):
    target = tmp_path / "file"
    target.write_bytes(b"old")
    client = fora_client("--read-only")
    with pytest.raises(td.RemoteOSError) as refused:
        # Larger than the agent's buffers: the content must be consumed, not left in the stream.
        client.upload(str(target), MARKER * 200_000, mode="600")
    assert refused.value.errno == 13 and refused_by("--read-only") in str(refused.value)
    assert "Upload" in str(refused.value)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["file"]
    with pytest.raises(td.RemoteOSError, match=refused_by("--read-only")):
        client.run(["touch", str(tmp_path / "made")], input=b"x" * 3_000_000)
    assert not (tmp_path / "made").exists()
    # Reads still work, and the answers are in step.
    assert client.download(str(target)) == b"old"
    assert client.stat(str(target), sha512sum=True).size == 3
    assert client.resolve_user("root") == "root"
    assert client.getenv("NO_SUCH_VARIABLE_HERE") is None


def test_read_only_refuses_every_extension_that_writes(tmp_path):
    agent = Agent([str(AGENT), "--read-only"])
    root = bytes(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "f").write_bytes(b"f")
    writes = [x.make_dir(root + b"/new"), x.remove(root + b"/f"), x.rename(root + b"/f", root + b"/g"),
              x.set_metadata(root + b"/f", mode="777"), x.set_metadata_beneath(root, b"f", mode="777"), x.remove_beneath(root, b"f"),
              x.symlink(b"/etc", root + b"/link"),
              x.run_ex([b"touch", root + b"/ran"], stdin=MARKER * 100_000)]
    for packet in writes:
        name, fields = agent.ask(packet)
        assert name == "OSError" and fields["errno"] == 13 and refused_by("--read-only") in fields["msg"], fields
    assert sorted(os.listdir(tmp_path)) == ["a", "f"] and os.stat(tmp_path / "f").st_mode & 0o777 != 0o777
    # Reads, and the session's own requests, are served.
    assert agent.ask(x.stat_path(root + b"/f"))[0] == "StatResult"
    assert agent.ask(x.list_dir(root))[0] == "DirEntries"
    assert agent.ask(x.hello())[0] == "HelloResult"
    assert agent.close()[0] == 0


def test_a_refused_streamed_run_and_its_pipelined_controls_keep_the_stream_in_step(tmp_path):
    agent = Agent([str(AGENT), "--read-only"])
    # The client sends its input before it sees the answer: the controls that follow the
    # refused run are read and ignored, as after any run that has ended.
    agent.send(x.run_ex([b"cat"], stream=True, stdin=MARKER), x.input_data(MARKER * 10_000), x.signal(15),
               x.close_input(), x.stat_path(bytes(tmp_path)))
    name, fields = agent.reader.answer()
    assert name == "OSError" and refused_by("--read-only") in fields["msg"]
    assert agent.reader.answer()[0] == "StatResult"
    assert agent.close()[0] == 0


def test_without_options_nothing_is_refused(fora_client, tmp_path):
    client = fora_client()
    client.upload(str(tmp_path / "f"), b"new")
    assert (tmp_path / "f").read_bytes() == b"new"


# --allow / --deny


def test_allow_serves_only_the_named_requests_in_any_case(fora_client, tmp_path):
    (tmp_path / "f").write_bytes(b"content")
    client = fora_client("--allow", "stat,DOWNLOAD")
    assert client.download(str(tmp_path / "f")) == b"content"
    assert client.stat(str(tmp_path / "f")).size == 7
    with pytest.raises(td.RemoteOSError, match=refused_by("--allow")):
        client.getenv("HOME")
    with pytest.raises(td.RemoteOSError, match=refused_by("--allow")):
        client.query_user("root", query_password_hash=True)
    # CheckAlive is always served.
    assert isinstance(client._request(td.PacketCheckAlive()), td.PacketAck)


def test_deny_refuses_the_named_requests(fora_client, tmp_path):
    (tmp_path / "f").write_bytes(b"content")
    client = fora_client("--deny=Download,QueryUser")
    with pytest.raises(td.RemoteOSError, match=refused_by("--deny")):
        client.download(str(tmp_path / "f"))
    assert client.stat(str(tmp_path / "f")).size == 7
    client.upload(str(tmp_path / "g"), b"written")
    assert (tmp_path / "g").read_bytes() == b"written"


def test_deny_of_an_extension_and_the_always_served_requests():
    agent = Agent([str(AGENT), "--deny", "ListDir,hello,checkalive"])
    assert agent.ask(x.hello())[0] == "HelloResult"
    name, fields = agent.ask(x.list_dir(b"/"))
    assert name == "OSError" and refused_by("--deny") in fields["msg"]
    assert agent.ask(x.stat_path(b"/"))[0] == "StatResult"
    assert agent.close()[0] == 0


@pytest.mark.parametrize("arguments, message", [
    (["--allow", "Stat,Nope"], b"--allow: no request is named 'Nope'"),
    (["--deny"], b"--deny needs a value"),
    (["--read-only", "--read-onyl"], b"unknown argument '--read-onyl'"),
    (["--log-facility", "local3"], b"--log-facility needs --log syslog"),
    (["--log", "syslog", "--log-facility", "kernel"], b"unknown facility 'kernel'"),
])
def test_a_bad_restriction_never_starts_an_agent(arguments, message):
    result = subprocess.run([str(AGENT), *arguments], input=b"\0\0\0\2",
                            capture_output=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr and result.stdout == b""


def test_help_documents_the_options():
    text = subprocess.run([str(AGENT), "--help"], capture_output=True, timeout=30).stdout
    for option in (b"--read-only", b"--allow NAMES", b"--deny NAMES", b"--root DIR", b"--log syslog|stderr|FILE",
                   b"--log-facility"):
        assert option in text


# --root


@pytest.fixture
def jail(tmp_path):
    """tmp_path/jail, and beside it what no request under --root may reach."""
    root = tmp_path / "jail"
    (root / "etc").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "etc" / "hostname").write_bytes(b"jailed-hostname\n")
    (root / "secret").write_bytes(b"decoy inside the jail")
    (tmp_path / "secret").write_bytes(b"OUTSIDE")
    (tmp_path / "secret").chmod(0o640)
    os.symlink("/etc/hostname", root / "absolute")                 # absolute: resolved in the jail
    os.symlink("../../secret", root / "sub" / "relative")          # relative, climbing out with ..
    os.symlink(str(tmp_path / "secret"), root / "host-path")       # a host path: no such file inside
    return root


def test_root_resolves_every_path_beneath_the_directory(fora_client, jail):
    client = fora_client("--root", str(jail))
    assert client.download("/etc/hostname") == b"jailed-hostname\n"
    assert client.download("etc/hostname") == b"jailed-hostname\n"        # relative: from the root
    for escape in ("../secret", "/../../secret", "sub/../../../secret", "/sub/relative", "sub/relative"):
        assert client.download(escape) == b"decoy inside the jail", escape
    assert client.download("/absolute") == b"jailed-hostname\n"
    with pytest.raises(ValueError, match="does not exist|No such file"):
        client.download("/host-path")
    assert client.stat("/absolute", follow_links=True).size == len(b"jailed-hostname\n")
    assert client.stat("/host-path", follow_links=True) is None
    assert client.stat("/host-path").type == "link"
    # Users and groups are the host's (the jail has no /etc/passwd).
    assert client.query_user("root").uid == 0 and client.resolve_group("0") == "root"


def test_root_keeps_writes_inside(fora_client, jail, tmp_path):
    client = fora_client("--root", str(jail))
    client.upload("/../escaped", b"new")
    assert (jail / "escaped").read_bytes() == b"new" and not (tmp_path / "escaped").exists()
    # A final symlink is never written through under --root (its target would be resolved
    # from the host's /): refused with ELOOP, the outside file untouched.
    with pytest.raises(td.RemoteOSError) as refused:
        client.upload("/host-path", b"overwritten")
    assert refused.value.errno == 40
    assert (tmp_path / "secret").read_bytes() == b"OUTSIDE"
    with pytest.raises(td.RemoteOSError, match=refused_by("--root")):
        client.run(["id"])
    assert client.stat("/escaped").size == 3


def test_root_extensions_stay_inside(jail, tmp_path):
    agent = Agent([str(AGENT), "--root", str(jail)])
    name, listing = agent.ask(x.list_dir(b"/sub/../.."))
    assert name == "DirEntries" and {entry[0] for entry in listing["entries"]} == {
        b"etc", b"sub", b"secret", b"absolute", b"host-path"}
    assert agent.ask(x.make_dir(b"/../a/b", parents=True)) == ("Ok", {})
    assert (jail / "a" / "b").is_dir() and not (tmp_path / "a").exists()
    assert agent.ask(x.rename(b"/secret", b"../../moved")) == ("Ok", {})
    assert (jail / "moved").exists() and (tmp_path / "secret").read_bytes() == b"OUTSIDE"
    # SetMetadata acts on a final symlink itself: Linux cannot chmod one.
    name, fields = agent.ask(x.set_metadata(b"/host-path", follow=True, mode="777"))
    assert name == "OSError" and fields["errno"] == 95
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o640
    assert agent.ask(x.remove(b"/../../moved")) == ("Ok", {})
    assert not (jail / "moved").exists() and (tmp_path / "secret").exists()
    name, fields = agent.ask(x.run_ex([b"id"]))
    assert name == "OSError" and refused_by("--root") in fields["msg"]
    assert agent.ask(x.read_link(b"/sub/relative")) == ("LinkTarget", dict(target=b"../../secret"))
    assert agent.close()[0] == 0


def test_root_holds_while_a_symlink_is_swapped_in_during_requests(jail, tmp_path):
    """A folder on the way is a symlink that is switched, again and again, between a folder in
    the jail and the outside (by an absolute path, and by climbing with ..): every answer is the
    jail's file or 'missing', never the outside one. (Without --root, the same loop reads the
    outside file about every other time.)"""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file").write_bytes(b"OUTSIDE")
    (jail / "inner").mkdir()
    (jail / "inner" / "file").write_bytes(b"inside")
    climb = "../" * len(jail.parts) + str(tmp_path / "outside").lstrip("/")
    targets = ("inner", str(tmp_path / "outside"), "inner", climb)
    os.symlink("inner", jail / "swap")
    stop = threading.Event()

    def swapper():
        index = 0
        while not stop.is_set():
            index += 1
            link = jail / f"link-{index}"
            os.symlink(targets[index % len(targets)], link)
            os.rename(link, jail / "swap")   # atomic: the path always resolves somewhere
    thread = threading.Thread(target=swapper)
    thread.start()
    seen = set()
    try:
        client = ForaClient("--root", str(jail))
        client.open()
        for _ in range(1000):
            try:
                seen.add(client.download("/swap/file"))
            except (ValueError, td.RemoteOSError):
                seen.add("missing")
            status = client.stat("/swap/file", follow_links=True)
            seen.add(status.size if status else "missing")
        client.close()
    finally:
        stop.set()
        thread.join()
    assert b"OUTSIDE" not in seen and len(b"OUTSIDE") not in seen, seen


def without_openat2():
    """A preexec_fn: a seccomp filter that answers openat2 (437 on every architecture) with
    ENOSYS, as a kernel before 5.6 does; the rest is allowed."""
    import ctypes
    import struct
    program = b"".join(struct.pack("HBBI", *instruction) for instruction in (
        (0x20, 0, 0, 0),                       # load the syscall number
        (0x15, 0, 1, 437),                     # openat2?
        (0x06, 0, 0, 0x00050000 | 38),         # SECCOMP_RET_ERRNO | ENOSYS
        (0x06, 0, 0, 0x7FFF0000),              # SECCOMP_RET_ALLOW
    ))
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HxxxxxxQ", 4, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0                                 # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0            # SECCOMP_MODE_FILTER


def test_root_without_openat2_refuses_to_start(jail):
    result = subprocess.run([str(AGENT), "--root", str(jail)], input=b"\0\0\0\2", capture_output=True, timeout=30,
                            preexec_fn=without_openat2)
    assert result.returncode == 1 and result.stdout == b""
    assert b"--root needs openat2(2) (Linux 5.6 or later), which this kernel lacks; not starting" in result.stderr
    # The same filter leaves an agent without --root working.
    plain = subprocess.run([str(AGENT)], input=b"\0\0\0\2", capture_output=True, timeout=30, preexec_fn=without_openat2)
    assert plain.returncode == 0 and plain.stdout == b"\0\0\0\1"


def test_root_that_is_no_directory_never_starts(tmp_path):
    result = subprocess.run([str(AGENT), "--root", str(tmp_path / "none")], input=b"", capture_output=True, timeout=30)
    assert result.returncode == 1 and b"--root " + bytes(tmp_path / "none") + b": " in result.stderr


# --log


def test_log_file_has_one_line_per_request_and_never_contents(fora_client, tmp_path, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", "192.0.2.7 50022 22")
    monkeypatch.setenv("RESTRICTED_TEST_SECRET", MARKER.decode())
    log = tmp_path / "audit.log"
    (tmp_path / "data").mkdir()
    client = fora_client("--log", str(log), "--deny", "Download")
    client.upload(str(tmp_path / "data" / "new"), MARKER * 1000, mode="600")
    with pytest.raises(td.RemoteOSError):
        client.download(str(tmp_path / "data" / "new"))
    assert client.run(["cat"], input=MARKER).stdout == MARKER
    assert client.getenv("RESTRICTED_TEST_SECRET") == MARKER.decode()
    client.query_user("root", query_password_hash=True)
    assert client.stat(str(tmp_path / "data" / "evil\nforged line")) is None
    text = log.read_bytes()
    assert MARKER not in text and b"forged line\n" not in text
    lines = text.decode().splitlines()
    assert len(lines) == 7, lines   # CheckAlive and the six requests, each written before its answer
    assert all("tunnel-dispatcher[" in line and line.endswith(" peer=\"192.0.2.7:50022\"") for line in lines)
    upload, download, run, getenv, query, stat = (line.split("]: ", 1)[1] for line in lines[1:7])
    new = str(tmp_path / "data" / "new")
    assert upload.startswith(f'Upload file="{new}" result=ok in={len(MARKER) * 1000} out=0')
    assert download.startswith(f'Download file="{new}" result=refused(--deny) in=0 out=0')
    assert run.startswith(f"ProcessRun result=exit(0) in={len(MARKER)} out={len(MARKER)}")
    assert getenv.startswith("Getenv result=ok") and query.startswith("QueryUser result=ok")
    assert stat.startswith(f'Stat path="{tmp_path}/data/evil\\x0aforged line" result=InvalidField(path)')
    assert log.stat().st_mode & 0o777 == 0o600


def test_log_to_stderr_and_no_log_without_the_option(tmp_path):
    agent = Agent([str(AGENT), "--log", "stderr", "--read-only"])
    assert agent.ask(x.make_dir(bytes(tmp_path) + b"/d"))[0] == "OSError"
    status, stderr = agent.close()
    assert status == 0 and stderr.count(b"\n") == 1
    assert b'MakeDir path="' + bytes(tmp_path) + b'/d" result=refused(--read-only) in=0 out=0' in stderr
    quiet = Agent([str(AGENT), "--read-only"])
    assert quiet.ask(x.make_dir(bytes(tmp_path) + b"/d"))[0] == "OSError"
    assert quiet.close() == (0, b"")


def test_commands_never_inherit_the_log(fora_client, tmp_path):
    client = fora_client("--log", str(tmp_path / "audit.log"))
    descriptors = client.run(["ls", "/proc/self/fd"]).stdout.split()
    assert descriptors == [b"0", b"1", b"2", b"3"]   # 3: the folder ls itself reads


def in_private_dev(command, log_socket=None):
    """`command` in a mount namespace of its own whose /dev is an empty tmpfs, with the
    socket `log_socket` bind-mounted on /dev/log (the host's /dev/log is never touched)."""
    mount = f"touch /dev/log && mount --bind {log_socket} /dev/log && " if log_socket else ""
    return ["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs /dev && {mount}exec \"$@\"", "sh", *command]


def private_dev_available():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


needs_mount_namespace = pytest.mark.skipif(not private_dev_available(),
                                           reason="needs root and unshare -m (a private /dev/log)")


@needs_mount_namespace
@pytest.mark.parametrize("options, priority", [([], 10 * 8 + 6), (["--log-facility", "LOCAL3"], 19 * 8 + 6)])
def test_syslog_goes_to_dev_log_as_authpriv_or_the_chosen_facility(tmp_path, monkeypatch, options, priority):
    monkeypatch.setenv("SSH_CLIENT", "198.51.100.1 40000 22")
    path = tmp_path / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(20)
    agent = Agent(in_private_dev([str(AGENT), "--log", "syslog", *options, "--read-only"], path))
    assert agent.ask(x.stat_path(b"/"))[0] == "StatResult"
    name, _ = agent.ask(x.symlink(MARKER, b"/tmp/restricted-link"))
    assert name == "OSError"
    assert agent.close()[0] == 0
    first, second = receiver.recv(4096), receiver.recv(4096)
    pid = agent.process.pid
    # unshare execs sh, which execs the agent: the same pid throughout.
    assert first == f'<{priority}>tunnel-dispatcher[{pid}]: StatPath path="/" result=ok in=0 out=0 ' \
                    f'peer="198.51.100.1:40000"'.encode()
    assert second.startswith(f"<{priority}>tunnel-dispatcher[{pid}]: Symlink target=".encode())
    assert b"refused(--read-only)" in second and MARKER in second   # a symlink's target is a path
    receiver.close()


@needs_mount_namespace
def test_syslog_that_nobody_reads_stops_the_agent_before_it_serves():
    result = subprocess.run(in_private_dev([str(AGENT), "--log", "syslog"]), input=b"\0\0\0\2",
                            capture_output=True, timeout=30)
    assert result.returncode == 1 and result.stdout == b""
    assert b"--log syslog: /dev/log does not answer" in result.stderr


# The `tunnel` client


needs_tunnel = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def tunnel(via, *args, stdin=b""):
    return subprocess.run([str(TUNNEL), "--via", via, *args], input=stdin, capture_output=True, timeout=60)


@needs_tunnel
@pytest.mark.parametrize("options, refused, option", [
    ("--read-only", ("upload", "-", "{d}/new"), "--read-only"),
    ("--deny upload", ("upload", "-", "{d}/new"), "--deny"),
    ("--allow stat,download,hello", ("mkdir", "{d}/new"), "--allow"),
    ("--root {d}", ("run", "--", "id"), "--root"),
])
def test_tunnel_exits_1_and_names_the_restriction(tmp_path, options, refused, option):
    (tmp_path / "f").write_bytes(b"readable")
    via = f"{AGENT} {options.format(d=tmp_path)}"
    result = tunnel(via, *(word.format(d=tmp_path) for word in refused), stdin=MARKER)
    assert result.returncode == 1, result
    assert refused_by(option).encode() in result.stderr
    assert not (tmp_path / "new").exists()
    read = tunnel(via, "download", "/f" if "root" in options else str(tmp_path / "f"))
    assert (read.returncode, read.stdout) == (0, b"readable")


@needs_tunnel
def test_tunnel_under_root_lists_and_stats_the_jail(jail):
    via = f"{AGENT} --root {jail} --read-only"
    listing = tunnel(via, "ls", "/..")
    assert listing.returncode == 0 and set(listing.stdout.split()) == {b"absolute", b"etc", b"host-path", b"secret", b"sub"}
    assert tunnel(via, "download", "/sub/relative").stdout == b"decoy inside the jail"


@needs_tunnel
def test_the_allow_list_usage_md_gives_a_backup_key_is_enough_for_download_r(jail, tmp_path):
    via = f"{AGENT} --allow StatPath,ReadBeneath,ReadLink --root {jail}"
    result = tunnel(via, "download", "-r", "/", str(tmp_path / "copy"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy" / "etc" / "hostname").read_bytes() == b"jailed-hostname\n"
    assert os.readlink(tmp_path / "copy" / "sub" / "relative") == "../../secret"


# A real sshd and a forced-command key


def forced_command_key(server, command):
    """Makes the server's one key a forced-command key for `command` (an authorized_keys line)."""
    public_key = Path(str(server.key) + ".pub").read_text().strip()
    line = f'command="{command}",restrict {public_key}\n'
    (server.key.parent / "authorized_keys").write_text(line)
    return line


@pytest.fixture
def sshd():
    from local_sshd import available, local_sshd
    if not available():
        pytest.skip("needs root and Debian's openssh-server (sshd)")
    with local_sshd() as server:
        yield server


def test_a_forced_command_key_reads_and_is_refused_writes(sshd, jail, tmp_path):
    log = tmp_path / "audit.log"
    forced_command_key(sshd, f"{AGENT} --read-only --root {jail} --log {log}")
    ssh = sshd.command()
    # tunnel --via 'ssh -i KEY host': no remote command, no bootstrap; the key starts the agent.
    if TUNNEL.exists():
        via = " ".join(ssh)
        assert tunnel(via, "download", "/etc/hostname").stdout == b"jailed-hostname\n"
        refused = tunnel(via, "upload", "-", "/etc/hostname", stdin=MARKER)
        assert refused.returncode == 1 and refused_by("--read-only").encode() in refused.stderr
    # fora's own client over the same key: the stream stays in step after the refusal.
    client = ForaClient()
    client.command = lambda: ssh
    client.open()
    assert client.download("/../etc/hostname") == b"jailed-hostname\n"
    with pytest.raises(td.RemoteOSError, match=refused_by("--read-only")):
        client.upload("/etc/hostname", MARKER * 100_000)
    with pytest.raises(td.RemoteOSError, match=refused_by("--read-only")):
        client.run(["id"])
    assert client.stat("/secret").size == len(b"decoy inside the jail")
    client.close()
    assert (jail / "etc" / "hostname").read_bytes() == b"jailed-hostname\n"
    text = log.read_text()
    assert MARKER.decode() not in text and 'peer="127.0.0.1:' in text
    assert 'Upload file="/etc/hostname" result=refused(--read-only)' in text


def test_foras_tunnel_ssh_connector_skips_the_bootstrap_for_a_forced_command_key(sshd, jail, monkeypatch):
    forced_command_key(sshd, f"{AGENT} --read-only --root {jail}")
    monkeypatch.syspath_prepend(str(ROOT / "packaging" / "fora"))
    from fora_tunnel_dispatcher import TunnelSshConnector
    if getattr(fora, "args", None) is None:
        fora.args = argparse.Namespace(debug=False, no_color=True, verbose=0)

    class Host:
        name = "forced"
        url = f"tunnel-ssh://root@127.0.0.1:{sshd.port}"
        ssh_opts = [f"-oIdentityFile={sshd.key}", "-oBatchMode=yes", "-oStrictHostKeyChecking=no",
                    "-oUserKnownHostsFile=/dev/null", "-oLogLevel=ERROR"]
        tunnel_forced_command = True

    connector = TunnelSshConnector(Host.url, Host())
    assert connector.command_sending({})[-1] == f"ssh://root@127.0.0.1:{sshd.port}"
    connector.open()
    try:
        assert connector.download("/etc/hostname") == b"jailed-hostname\n"
        with pytest.raises(td.RemoteOSError, match=refused_by("--read-only")):
            connector.upload("/etc/hostname", b"x")
        assert connector.getenv("SSH_CLIENT").startswith("127.0.0.1 ")
    finally:
        connector.close()


@pytest.mark.parametrize("path", [b"/..", b"..", b"/sub/../.."])
def test_root_set_metadata_of_dot_dot_stays_inside(jail, tmp_path, path):
    """SetMetadata works on its final component through its folder's descriptor; a final
    '..' of the jail's root must be the root itself (as openat2 resolves it), never the
    folder that holds the jail: no chmod, chown or mtime reaches outside."""
    os.chmod(tmp_path, 0o700)
    before = os.stat(tmp_path)
    agent = Agent([str(AGENT), "--root", str(jail)])
    assert agent.ask(x.set_metadata(path, mode="757", mtime=12345)) == ("Ok", {})
    after = os.stat(tmp_path)
    assert after.st_mode & 0o7777 == 0o700 and after.st_mtime_ns == before.st_mtime_ns
    assert os.stat(jail).st_mode & 0o7777 == 0o757 and os.stat(jail).st_mtime_ns == 12345
    assert agent.close()[0] == 0


def test_a_run_ex_is_logged_with_its_exit_status_when_it_ends():
    agent = Agent([str(AGENT), "--log", "stderr"])
    name, fields = agent.ask(x.run_ex([b"sh", b"-c", b"printf abc; exit 3"], stdin=b"12345"))
    assert name == "RunFinished" and fields["returncode"] == 3
    status, stderr = agent.close()
    assert status == 0 and b"RunEx result=exit(3) in=5 out=3" in stderr, stderr


def test_root_read_beneath_of_the_root_itself_stays_inside(jail, tmp_path):
    """ReadBeneath's `root` is a request path too: with an empty `path` it is read itself,
    and under --root that must be beneath the jail as every other path, never the host's."""
    agent = Agent([str(AGENT), "--root", str(jail)])
    name, fields = agent.ask(x.read_beneath(str(tmp_path / "secret").encode(), b""))
    assert name == "OSError" and fields["errno"] == 2, (name, fields)
    name, listing = agent.ask(x.read_beneath(b"/..", b""))
    assert name == "DirEntries" and b"jail" not in {entry[0] for entry in listing["entries"]}
    assert agent.close()[0] == 0

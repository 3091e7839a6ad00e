"""Same request to the agent and to the reference: the decoded answers must be equal,
except where docs/protocol.md names a deviation (those are tested with the feature they
change, e.g. test_agent.py and test_hostile_filesystem.py, or else in test_deviations.py)."""
import os
import pwd
import re
import shutil
import stat as stat_module
import tempfile
from pathlib import Path

import pytest

from fora.connectors import tunnel_dispatcher as td

from harness import TEST_USER


def same(pair, packet):
    agent, reference = pair
    expected = reference.request(packet)
    actual = agent.request(packet)
    assert actual == expected, f"{packet}"
    return actual


def run(command, **kwargs):
    fields = dict(command=command, stdin=None, capture_output=True, user=None, group=None,
                  umask=None, cwd=None)
    fields.update(kwargs)
    return td.PacketProcessRun(**fields)


# --- liveness ---------------------------------------------------------------------------

def test_check_alive(pair):
    assert isinstance(same(pair, td.PacketCheckAlive()), td.PacketAck)


# --- ProcessRun -------------------------------------------------------------------------

@pytest.mark.parametrize("command,stdin", [
    (["true"], None),
    (["false"], None),
    (["sh", "-c", "exit 42"], None),
    (["echo", "abc"], None),
    (["cat"], b"test\nb"),
    (["cat"], b""),
    (["sh", "-c", "echo out; echo err >&2; exit 3"], None),
    (["printf", "gr\u00fc\u00df \u2603 \U0001F600"], None),
    (["sh", "-c", "kill -TERM $$"], None),
    (["sh", "-c", "kill -KILL $$"], None),
    (["pwd"], None),
    (["id", "-u"], None),
    (["sh", "-c", "umask"], None),
    (["head", "-c", "3"], b"abcdef" * 100000),
    (["wc", "-c"], os.urandom(3 << 20)),
])
def test_process_run(pair, command, stdin):
    same(pair, run(command, stdin=stdin))


@pytest.mark.parametrize("command", [["echo test"], ["/nonexistent/prog"], ["/etc/passwd"], ["/tmp"]])
def test_process_cannot_exec(pair, command):
    answer = same(pair, run(command))
    assert isinstance(answer, td.PacketOSError)


@pytest.mark.parametrize("umask", ["022", "0o22", " 7 ", "-7", "1777777", "0_2_2", "0o_7", "8", "x",
                                   "", "0x12", "2__2", "_1", "+5", "99999999999999999999"])
def test_process_umask(pair, umask):
    same(pair, run(["sh", "-c", "umask"], umask=umask))


@pytest.mark.parametrize("user", ["root", "0", " 0 ", "+0", "nobody", "_no_such_user_", "4294967294", "99999", "ro\0ot"])
def test_process_user(pair, user):
    same(pair, run(["id"], user=user))


@pytest.mark.parametrize("group", ["root", "0", "nogroup", "_no_such_group_", "65534", "77777", "g\0"])
def test_process_group(pair, group):
    same(pair, run(["id", "-g"], group=group))


def test_process_switch_to_test_user(pair):
    same(pair, run(["id", "-u"], user=TEST_USER))


@pytest.mark.parametrize("cwd", ["/", "/var/tmp", "/nonexistent", "/etc/passwd", "/root"])
def test_process_cwd(pair, cwd):
    same(pair, run(["pwd"], cwd=cwd))


def test_process_cwd_unreachable_for_target_user(pair):
    same(pair, run(["pwd"], cwd="/root", user=TEST_USER))


def test_process_uncaptured_exit_status(pair):
    agent, reference = pair
    packet = run(["sh", "-c", "exit 5"], capture_output=False)
    assert agent.request(packet) == reference.request(packet)


# --- Stat -------------------------------------------------------------------------------

def open_directory(prefix):
    """A fresh directory the unprivileged test user can reach (pytest's own is 0700)."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(base, 0o755)
    return base


@pytest.fixture(scope="module")
def tree():
    base = open_directory("tunnel-tree-")
    (base / "file").write_bytes(b"hello world\n")
    (base / "empty").write_bytes(b"")
    (base / "big").write_bytes(os.urandom((5 << 20) + 77))
    (base / "dir").mkdir()
    (base / "secret").write_bytes(b"x")
    os.chmod(base / "secret", 0o600)
    os.symlink("file", base / "link")
    os.symlink("nowhere", base / "dangling")
    os.mkfifo(base / "fifo")
    (base / "quote's").write_bytes(b"q")
    (base / "tab\tnew\nline\x1b\u200b\u00e4").write_bytes(b"odd")
    for name in os.listdir(base):
        if name != "secret":
            os.lchown(base / name, 0, 0) if os.getuid() == 0 else None
    yield base
    shutil.rmtree(base)


@pytest.mark.parametrize("name", ["file", "empty", "big", "dir", "link", "dangling", "fifo", "secret",
                                  "missing", "file/below", "quote's", "tab\tnew\nline\x1b\u200b\u00e4"])
@pytest.mark.parametrize("follow", [False, True])
@pytest.mark.parametrize("digest", [False, True])
def test_stat(pair, tree, name, follow, digest):
    same(pair, td.PacketStat(path=str(tree / name), follow_links=follow, sha512sum=digest))


@pytest.mark.parametrize("path", ["/dev/null", "/", "/etc/passwd", "/etc/shadow", "/proc/self"])
def test_stat_system(pair, path):
    same(pair, td.PacketStat(path=path, follow_links=False, sha512sum=True))


# --- Download ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["file", "empty", "big", "dir", "link", "dangling", "secret", "missing",
                                  "quote's", "file/below"])
def test_download(pair, tree, name):
    same(pair, td.PacketDownload(file=str(tree / name)))


@pytest.mark.parametrize("path", ["/proc/self/comm", "/etc/shadow", "/dev/null", "/sys/devices/system/cpu/online"])
def test_download_system(pair, path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not on this host")
    agent, reference = pair
    packet = td.PacketDownload(file=path)
    expected, actual = reference.request(packet), agent.request(packet)
    if path == "/proc/self/comm":   # the process names differ, the shape must not
        assert type(actual) is type(expected)
    else:
        assert actual == expected


# --- Upload -----------------------------------------------------------------------------

@pytest.fixture
def upload_dir():
    base = open_directory("tunnel-upload-")
    yield base
    shutil.rmtree(base)


def side_neutral(answer):
    """The answer with the side's directory name removed from its texts."""
    return tuple(re.sub(r"/(agent|ref)(?=[/'\"]|$)", "/SIDE", value) if isinstance(value, str) else value
                 for value in answer)


def both_upload(pair, directory, name, content, **fields):
    """Uploads to two copies of the same situation; returns the answers and the files."""
    agent, reference = pair
    answers = []
    for dispatcher, side in ((reference, "ref"), (agent, "agent")):
        target = directory / side / name
        packet = td.PacketUpload(file=str(target), content=content, mode=fields.get("mode"),
                                 owner=fields.get("owner"), group=fields.get("group"))
        answers.append(side_neutral(dispatcher.request(packet)))
    return answers


def setup_sides(directory, prepare=None, owner=None):
    """Makes the same situation for both sides; files made by `prepare` belong to `owner`."""
    for side in ("ref", "agent"):
        (directory / side).mkdir()
        os.chmod(directory / side, 0o777)
        if prepare:
            prepare(directory / side)
        if owner is not None:
            entry = pwd.getpwnam(owner)
            for name in os.listdir(directory / side):
                os.lchown(directory / side / name, entry.pw_uid, entry.pw_gid)


def metadata(path):
    info = os.stat(path)
    return stat_module.S_IMODE(info.st_mode), info.st_uid, info.st_gid


@pytest.mark.parametrize("content", [b"", b"x", os.urandom(100000)])
@pytest.mark.parametrize("mode", [None, "644", "0o600", "4755", "bad", "9"])
def test_upload_new(pair, upload_dir, content, mode):
    setup_sides(upload_dir)
    expected, actual = both_upload(pair, upload_dir, "new", content, mode=mode)
    assert actual == expected
    if expected == ():
        for side in ("ref", "agent"):
            assert (upload_dir / side / "new").read_bytes() == content
        assert metadata(upload_dir / "agent" / "new") == metadata(upload_dir / "ref" / "new")
    else:
        assert not (upload_dir / "agent" / "new").exists()
    assert sorted(os.listdir(upload_dir / "agent")) == sorted(os.listdir(upload_dir / "ref"))


def test_upload_keeps_existing_metadata(pair, upload_dir, identity):
    def prepare(side):
        (side / "f").write_bytes(b"old")
        os.chmod(side / "f", 0o640)
    setup_sides(upload_dir, prepare, owner=identity)
    expected, actual = both_upload(pair, upload_dir, "f", b"new content")
    assert actual == expected
    assert metadata(upload_dir / "agent" / "f") == metadata(upload_dir / "ref" / "f")
    assert (upload_dir / "agent" / "f").read_bytes() == b"new content"


@pytest.mark.parametrize("owner,group", [("nobody", None), ("0", "nogroup"), ("_nope_", None),
                                         (None, "_nope_"), (TEST_USER, None), ("a\0", None), (None, "b\0")])
def test_upload_owner(pair, upload_dir, owner, group):
    setup_sides(upload_dir)
    expected, actual = both_upload(pair, upload_dir, "f", b"data", owner=owner, group=group)
    assert actual == expected
    if expected == ():
        assert metadata(upload_dir / "agent" / "f") == metadata(upload_dir / "ref" / "f")


def test_upload_through_symlink(pair, upload_dir, identity):
    def prepare(side):
        (side / "real").write_bytes(b"old")
        os.symlink("real", side / "link")
        os.symlink("created-by-upload", side / "dangling")
    setup_sides(upload_dir, prepare, owner=identity)
    for name in ("link", "dangling"):
        expected, actual = both_upload(pair, upload_dir, name, b"through")
        assert actual == expected
    for side in ("ref", "agent"):
        assert os.path.islink(upload_dir / side / "link")
        assert (upload_dir / side / "real").read_bytes() == b"through"
        assert (upload_dir / side / "created-by-upload").read_bytes() == b"through"


@pytest.mark.parametrize("name", ["missing-dir/f", ".", "dir"])
def test_upload_errors(pair, upload_dir, name):
    setup_sides(upload_dir, lambda side: (side / "dir").mkdir())
    expected, actual = both_upload(pair, upload_dir, name, b"data")
    assert actual == expected


def test_upload_to_unwritable_file(pair, upload_dir, identity):
    def prepare(side):
        (side / "ro").write_bytes(b"old")
        os.chmod(side / "ro", 0o444)
    setup_sides(upload_dir, prepare)
    expected, actual = both_upload(pair, upload_dir, "ro", b"new")
    assert actual == expected
    if identity is not None:
        assert (upload_dir / "agent" / "ro").read_bytes() == b"old"


def test_upload_to_writable_file_in_unwritable_directory(pair, upload_dir, identity):
    def prepare(side):
        (side / "f").write_bytes(b"old")
        os.chmod(side / "f", 0o666)
        os.chmod(side, 0o755)   # only root may create files here
    setup_sides(upload_dir, prepare)
    expected, actual = both_upload(pair, upload_dir, "f", b"new")
    assert actual == expected == ()
    assert (upload_dir / "agent" / "f").read_bytes() == b"new"
    assert metadata(upload_dir / "agent" / "f") == metadata(upload_dir / "ref" / "f")


def test_upload_keeps_someone_elses_ownership(pair, upload_dir, identity):
    def prepare(side):
        (side / "f").write_bytes(b"old")
        os.chmod(side / "f", 0o666)
        if os.getuid() == 0:
            os.chown(side / "f", 65534, 65534)
    setup_sides(upload_dir, prepare)
    expected, actual = both_upload(pair, upload_dir, "f", b"new")
    assert actual == expected == ()
    assert (upload_dir / "agent" / "f").read_bytes() == b"new"
    assert metadata(upload_dir / "agent" / "f") == metadata(upload_dir / "ref" / "f")


def test_upload_then_download_roundtrip(pair, upload_dir):
    setup_sides(upload_dir)
    content = os.urandom(3 << 20)
    both_upload(pair, upload_dir, "f", content)
    agent, reference = pair
    for dispatcher, side in ((agent, "agent"), (reference, "ref")):
        assert dispatcher.request(td.PacketDownload(file=str(upload_dir / side / "f"))).content == content


# --- Users, groups, environment ---------------------------------------------------------

USERS = ["root", "0", "nobody", "65534", " 0", "+0", "-0", "0_0", "_invalid_", "99999", "-1",
         "4294967295", "daemon", "bin", TEST_USER, "", "tunnel-orphan"]
GROUPS = ["root", "0", "nogroup", "65534", " 0 ", "_invalid_", "99999", "daemon", "tty", "adm", ""]


@pytest.mark.parametrize("user", [None, *USERS])
def test_resolve_user(pair, user):
    same(pair, td.PacketResolveUser(user=user))


@pytest.mark.parametrize("group", [None, *GROUPS])
def test_resolve_group(pair, group):
    same(pair, td.PacketResolveGroup(group=group))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("query_hash", [False, True])
def test_query_user(pair, user, query_hash):
    same(pair, td.PacketQueryUser(user=user, query_password_hash=query_hash))


@pytest.mark.parametrize("group", GROUPS)
def test_query_group(pair, group):
    same(pair, td.PacketQueryGroup(group=group))


@pytest.mark.parametrize("key", ["PATH", "HOME", "NO_SUCH_VARIABLE_X", "", "A=B", "PATH=", "\u00e4"])
def test_getenv(pair, key):
    same(pair, td.PacketGetenv(key=key))


# --- A long mixed session ---------------------------------------------------------------

def test_mixed_session(pair, tree):
    packets = [td.PacketCheckAlive(), run(["echo", "1"]), td.PacketStat(path=str(tree / "file"), follow_links=False, sha512sum=True),
               td.PacketResolveUser(user="root"), td.PacketGetenv(key="PATH"), run(["cat"], stdin=b"x" * 70000),
               td.PacketQueryGroup(group="root"), td.PacketDownload(file=str(tree / "file"))] * 5
    for packet in packets:
        same(pair, packet)

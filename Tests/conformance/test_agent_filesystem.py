"""The agent's file system extensions where the host is unusual: trees deeper than any stack,
and a root that holds nothing but the agent (no /proc). Issue 20 item 9, issue 21 item 4."""
import io
import os
import pwd
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import extensions as x
from harness import AGENT, TEST_USER, open_files_below, wait_until

DEPTH = 10_000
STACK_LIMIT = 256 * 1024


def make_deep_tree(top, depth, files_per_level=1):
    """`top`/d/d/.../d, `depth` folders below `top`, a file and a symlink in each: built by
    descriptor, since the path is far longer than PATH_MAX."""
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            for index in range(files_per_level):
                os.close(os.open(f"f{index}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            os.symlink("/", "up", dir_fd=fd)
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)


def remove_deep_tree(path):
    """shutil.rmtree recurses in Python and gives up long before DEPTH; GNU rm does not."""
    subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def with_small_stack():
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_LIMIT, STACK_LIMIT))


def test_recursive_remove_of_a_tree_deeper_than_the_stack(tmp_path):
    """Issue 20 item 9: the agent recursed natively, and a 5,000-level tree under a 256 KiB
    stack killed it with SIGSEGV."""
    tree = tmp_path / "deep"
    make_deep_tree(tree, DEPTH)
    try:
        result = subprocess.run([str(AGENT)], input=x.remove(bytes(tree), recursive=True), capture_output=True,
                                timeout=120, preexec_fn=with_small_stack)
        assert result.returncode == 0, result.stderr
        assert x.Reader(io.BytesIO(result.stdout)).answer() == ("Ok", {})
        assert not tree.exists()
        assert os.path.isdir("/") and os.listdir(tmp_path) == []
    finally:
        remove_deep_tree(tree)


def test_recursive_remove_of_a_bushy_tree(tmp_path):
    """Siblings, empty folders, a folder without read access for others, links out: each
    folder is listed again after one of its subfolders is gone, from its first entry."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    tree = tmp_path / "tree"
    for first in "abc":
        for second in "xyz":
            folder = tree / first / second
            (folder / "empty").mkdir(parents=True)
            (folder / "file").write_text(first + second)
            (folder / "link").symlink_to(outside)
        (tree / first / "file").write_text(first)
    (tree / "b" / "y").chmod(0o700)
    result = subprocess.run([str(AGENT)], input=x.remove(bytes(tree), recursive=True), capture_output=True, timeout=60)
    assert x.Reader(io.BytesIO(result.stdout)).answer() == ("Ok", {})
    assert not tree.exists() and (outside / "keep").read_text() == "keep"


# --- A root with nothing but the agent: no /proc ---------------------------------------------

@pytest.fixture
def bare_root(tmp_path):
    """A folder to chroot into: the agent, busybox (for RunEx), a passwd and group that
    name the test user, and /w, writable by the identity under test. No /proc, no /dev."""
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o755)
    tmp_path.chmod(0o755)
    shutil.copy(AGENT, root / "tunnel-dispatcher")
    shutil.copy("/bin/busybox", root / "busybox")
    (root / "etc").mkdir()
    entry = pwd.getpwnam(TEST_USER)
    (root / "etc" / "passwd").write_text(f"root:x:0:0:root:/:/busybox\n"
                                         f"{TEST_USER}:x:{entry.pw_uid}:{entry.pw_gid}::/w:/busybox\n")
    (root / "etc" / "group").write_text(f"root:x:0:\n{TEST_USER}:x:{entry.pw_gid}:\n")
    (root / "w").mkdir()
    return root


@pytest.fixture(scope="module")
def without_fchmodat2(tmp_path_factory):
    """A helper that runs a command with fchmodat2 failing (see helpers/without_fchmodat2.c),
    built here with the C compiler."""
    compiler = shutil.which("cc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("needs a C compiler to build the seccomp helper")
    helper = tmp_path_factory.mktemp("helper") / "without_fchmodat2"
    subprocess.run([compiler, "-O", "-o", str(helper), str(Path(__file__).parent / "helpers" / "without_fchmodat2.c")],
                   check=True)
    return helper


def run_in_chroot(root, user, *packets, prefix=()):
    """Sends `packets` to the agent chrooted in `root` as `user` (None: root); its answers."""
    entry = pwd.getpwnam(user or "root")
    command = [*prefix, "chroot", f"--userspec={entry.pw_uid}:{entry.pw_gid}", str(root), "/tunnel-dispatcher"]
    result = subprocess.run(command, input=b"".join(packets), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    return [reader.answer() for _ in packets]


@pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize("fchmodat2", ["kernel", "ENOSYS", "EPERM"])
@pytest.mark.parametrize("user", [None, TEST_USER], ids=["root", "unprivileged"])
def test_every_extension_works_without_proc(bare_root, user, unprivileged_user, fchmodat2, request):
    """Issue 21 item 4: musl emulates fchmodat(AT_SYMLINK_NOFOLLOW) through /proc/self/fd, so
    without /proc `MakeDir /d 750` answered ENOENT and left a 0700 folder behind. The agent
    uses fchmodat2, or where the kernel (ENOSYS) or a seccomp profile (EPERM) refuses it, the
    file's own descriptor."""
    if unprivileged_user is None:
        pytest.skip("needs the unprivileged test user")
    prefix = () if fchmodat2 == "kernel" else (str(request.getfixturevalue("without_fchmodat2")), fchmodat2)
    entry = pwd.getpwnam(TEST_USER)
    os.chown(bare_root / "w", entry.pw_uid if user else 0, entry.pw_gid if user else 0)
    (bare_root / "w" / "file").write_bytes(b"content")
    os.chown(bare_root / "w" / "file", entry.pw_uid if user else 0, entry.pw_gid if user else 0)
    answers = run_in_chroot(
        bare_root, user,
        x.hello(),
        x.make_dir(b"/w/d", mode="750"),
        x.make_dir(b"/w/d/a/b", mode="700", parents=True),
        x.set_metadata(b"/w/d/a", follow=False, mode="711", owner=TEST_USER, group=TEST_USER, mtime=-1_500_000_000),
        x.set_metadata(b"/w/file", follow=False, mode="4640"),
        x.set_metadata(b"/w/d/a/b", mode="705", mtime=1_000_000_000),
        x.symlink(b"a", b"/w/d/link"),
        x.read_link(b"/w/d/link"),
        x.set_metadata(b"/w/d/link", follow=False, mode="600"),
        x.stat_path(b"/w/file", sha512=True),
        x.list_dir(b"/w/d", with_status=True),
        x.rename(b"/w/d/a", b"/w/d/c"),
        x.remove(b"/w/d/link"),
        x.remove(b"/w/d", recursive=True),
        # Last: a request pipelined behind a captured RunEx ends the session (issue 21 item 1).
        x.run_ex(["/busybox", "true"]),
        prefix=prefix,
    )
    names = [name for name, _ in answers]
    assert names == ["HelloResult", "Ok", "Ok", "Ok", "Ok", "Ok", "Ok", "LinkTarget", "OSError", "StatResult",
                     "DirEntries", "Ok", "Ok", "Ok", "RunFinished"], answers
    assert answers[8][1]["errno"] == 95, "Linux cannot chmod a symlink itself"
    assert answers[9][1]["mode"] == 0o4640 and answers[9][1]["size"] == 7
    listing = {name: (kind, status) for name, kind, status in answers[10][1]["entries"]}
    assert listing[b"a"][1]["mode"] == 0o711 and listing[b"a"][1]["owner"] == TEST_USER
    assert listing[b"a"][1]["mtime"] == 0, "before the epoch: the protocol's field is unsigned"
    assert listing[b"link"][0] == "link"
    assert answers[14][1]["returncode"] == 0
    assert os.listdir(bare_root / "w") == ["file"]
    assert os.lstat(bare_root / "w" / "file").st_mode & 0o7777 == 0o4640


@pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize("user", [None, TEST_USER], ids=["root", "unprivileged"])
def test_make_dir_sets_the_exact_mode_without_proc(bare_root, user, unprivileged_user):
    if unprivileged_user is None:
        pytest.skip("needs the unprivileged test user")
    entry = pwd.getpwnam(TEST_USER)
    if user:
        os.chown(bare_root / "w", entry.pw_uid, entry.pw_gid)
    assert run_in_chroot(bare_root, user, x.make_dir(b"/w/d", mode="750")) == [("Ok", {})]
    assert (bare_root / "w" / "d").stat().st_mode & 0o7777 == 0o750


def test_a_folder_moved_out_of_the_tree_mid_removal_stops_it(tmp_path):
    """Remove climbs back with "..", so it checks that ".." is the folder it came down from: a
    folder moved elsewhere while it is being emptied must not let the loop go on to empty the
    folder that now holds it (here `outside`, with a file of its own)."""
    tree = tmp_path / "tree"
    inner = tree / "a" / "b"
    inner.mkdir(parents=True)
    fd = os.open(inner, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index in range(50_000):   # long enough to be caught inside
            os.close(os.open(f"f{index}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    process = subprocess.Popen([str(AGENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(x.remove(bytes(tree), recursive=True))
        process.stdin.flush()
        assert wait_until(lambda: str(inner) in open_files_below(process.pid, inner), timeout=30)
        process.send_signal(signal.SIGSTOP)
        os.rename(inner, outside / "b")
        process.send_signal(signal.SIGCONT)
        name, fields = x.Reader(process.stdout).answer()
        assert (name, fields["errno"]) == ("OSError", 11), fields
    finally:
        process.kill()
        process.wait()
    assert (outside / "keep").read_text() == "keep"
    assert os.listdir(outside / "b") == [], "what was moved had been in the tree: emptied, kept"


@pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize("user", [None, TEST_USER], ids=["root", "unprivileged"])
def test_a_streamed_run_with_its_controls_works_without_proc(bare_root, user, unprivileged_user):
    """RunEx streamed, with Input and CloseInput, in the same bare root."""
    if unprivileged_user is None:
        pytest.skip("needs the unprivileged test user")
    entry = pwd.getpwnam(user or "root")
    command = ["chroot", f"--userspec={entry.pw_uid}:{entry.pw_gid}", str(bare_root), "/tunnel-dispatcher"]
    data = x.run_ex(["/busybox", "cat"], stream=True, stdin=b"") + x.input_data(b"through the pipe") + x.close_input()
    result = subprocess.run(command, input=data, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    output = b""
    while True:
        name, fields = reader.answer()
        if name != "Output":
            break
        output += fields["data"]
    assert (name, fields["returncode"], output) == ("RunFinished", 0, b"through the pipe")

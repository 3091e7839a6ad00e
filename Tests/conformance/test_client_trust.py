"""The client against a hostile target (issue 20): a fake agent (fake_agent.py) that lies
in its listings, a real agent whose tree changes under it, planted symlinks on both sides,
interrupted downloads, and the descriptors the transport inherits. Whatever the target
does, tunnel may fail, never write outside the destination."""
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import AGENT, ROOT
from test_cli import TUNNEL, tunnel
from test_extensions import agent as raw_agent  # noqa: F401  (a fixture: the agent with the extension codec)

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


def fake(scenario, outside=None):
    """A --via command that starts the fake agent with `scenario`."""
    return " ".join([sys.executable, str(FAKE_AGENT), scenario] + ([str(outside)] if outside else []))


def tree_of(folder):
    """Every path below `folder`, relative, symlinks not followed."""
    found = set()
    for base, folders, files in os.walk(folder):
        for name in folders + files:
            found.add(os.path.relpath(os.path.join(base, name), folder))
    return found


@pytest.mark.parametrize("name", [b"../escape", b"a/../../escape", b"/escape", b".", b"..", b"", b"x\x00y"],
                         ids=["dotdot-slash", "nested-dotdot", "absolute", "dot", "dotdot", "empty", "nul"])
def test_download_r_refuses_names_that_are_not_single_names(tmp_path, name):
    work = tmp_path / "work"
    work.mkdir()
    result = tunnel("--via", fake("name:" + name.hex()), "download", "-r", "/t", str(work / "dest"))
    assert result.returncode != 0, "a listing with that name must fail the copy"
    assert b"is not a single file name" in result.stderr
    assert tree_of(tmp_path) <= {"work", "work/dest"}, tree_of(tmp_path)


def test_download_r_never_writes_through_a_dotdot_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = tunnel("--via", fake("dotdot-dir"), "download", "-r", "/t", str(work / "dest"))
    assert result.returncode != 0
    assert not (work / "escape").exists() and not (tmp_path / "escape").exists()


def test_download_r_refuses_a_name_listed_twice(tmp_path):
    """A symlink to a folder outside, then a folder of the same name: its content would be
    written through the link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    result = tunnel("--via", fake("duplicate", outside), "download", "-r", "/t", str(tmp_path / "dest"))
    assert result.returncode != 0 and b"listed twice" in result.stderr
    assert os.listdir(outside) == []


def test_download_r_refuses_an_entry_that_changed_kind(tmp_path):
    """Listed as a folder, a symlink when read: the folder it points to is not copied."""
    result = tunnel("--via", fake("swapped-kind"), "download", "-r", "/t", str(tmp_path / "dest"))
    assert result.returncode == 23 and b"was listed as dir" in result.stderr
    assert not (tmp_path / "dest" / "sub" / "secret.txt").exists()
    folder_to_file = tunnel("--via", fake("folder-becomes-file"), "download", "-r", "/t", str(tmp_path / "dest3"))
    assert folder_to_file.returncode == 23 and b"/t/d was listed as dir" in folder_to_file.stderr, folder_to_file.stderr
    assert not (tmp_path / "dest3" / "d").exists()
    file_to_folder = tunnel("--via", fake("file-becomes-folder"), "download", "-r", "/t", str(tmp_path / "dest2"))
    assert file_to_folder.returncode != 0
    assert tree_of(tmp_path / "dest2") == set()


def test_tree_transfers_tell_an_older_agent_apart(tmp_path):
    """An agent whose HelloResult lacks ids 42-44 gets a clear refusal, not a weaker copy."""
    down = tunnel("--via", fake("older-agent"), "download", "-r", "/t", str(tmp_path / "dest"))
    assert down.returncode == 255 and b"does not serve ReadBeneath" in down.stderr, down.stderr
    (tmp_path / "src").mkdir()
    up = tunnel("--via", fake("older-agent"), "upload", "-r", str(tmp_path / "src"), "/t/new")
    assert up.returncode == 255 and b"does not serve CreateBeneath" in up.stderr, up.stderr
    assert not (tmp_path / "dest").exists()


def test_download_r_drops_set_id_bits(tmp_path):
    result = tunnel("--via", fake("setuid"), "download", "-r", "/t", str(tmp_path / "dest"))
    assert result.returncode == 0, result.stderr
    assert os.stat(tmp_path / "dest" / "tool").st_mode & 0o7777 == 0o755
    assert os.stat(tmp_path / "dest" / "shared").st_mode & 0o7777 == 0o1777


def test_download_r_never_follows_a_local_symlink(tmp_path):
    """The destination already holds a symlink where the source has a folder."""
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file").write_text("content")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "source").mkdir(parents=True)
    (dest / "source" / "sub").symlink_to(outside)
    result = tunnel("download", "-r", str(source), str(dest))   # into dest/source, as scp -r
    assert result.returncode != 0 and b"dest/source/sub: Not a directory" in result.stderr
    assert os.listdir(outside) == []


def test_download_r_never_follows_a_symlink_swapped_in_after_the_listing(tmp_path):
    """A proxy between tunnel and a real agent swaps the folder `swapme` for a symlink to a
    folder outside the tree just before the request that reads it goes through: the
    secret it points to is never copied."""
    tree, secret, via = swapping_proxy(tmp_path, b"swapme")
    (secret / "secret.txt").write_text("secret")
    result = tunnel("--via", via, "download", "-r", str(tree), str(tmp_path / "dest"))
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    assert result.returncode == 23, result.stderr   # that folder failed, the rest was copied
    assert not (tmp_path / "dest" / "swapme" / "secret.txt").exists()
    assert b"secret" not in b"".join(p.read_bytes() for p in (tmp_path / "dest").rglob("*") if p.is_file())


def swapping_proxy(tmp_path, trigger):
    """A tree holding the folder `swapme` (with a file `harmless`), a folder `secret` outside
    it (with its own `harmless`), and a --via command: a proxy between tunnel and a real
    agent that swaps `swapme` for a symlink to `secret` just before the first request whose
    bytes hold `trigger` reaches the agent."""
    tree = tmp_path / "tree"
    (tree / "swapme").mkdir(parents=True)
    (tree / "swapme" / "harmless").write_text("harmless")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "harmless").write_text("secret")
    proxy = tmp_path / "proxy.py"
    proxy.write_text(PROXY.format(agent=str(AGENT), tree=str(tree), secret=str(secret), trigger=trigger))
    return tree, secret, f"{sys.executable} {proxy}"


PROXY = '''
import os, subprocess, sys, threading
agent = subprocess.Popen([{agent!r}], stdin=subprocess.PIPE, stdout=sys.stdout.buffer)
swapped = False
def swap():
    os.rename({tree!r} + "/swapme", {tree!r} + "/swapped-away")
    os.symlink({secret!r}, {tree!r} + "/swapme")
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    if not swapped and {trigger!r} in chunk:
        swap()
        swapped = True
    agent.stdin.write(chunk)
    agent.stdin.flush()
agent.stdin.close()
sys.exit(agent.wait())
'''


def test_upload_r_never_follows_a_planted_folder_symlink(tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file").write_text("content")
    remote = tmp_path / "remote"
    (remote / "src").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (remote / "src" / "sub").symlink_to(outside)
    result = tunnel("upload", "-r", str(source), str(remote))
    assert result.returncode == 23 and b"File exists" in result.stderr, result.stderr
    assert os.listdir(outside) == []


def test_upload_r_replaces_a_planted_file_symlink(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "file").write_text("new")
    remote = tmp_path / "remote"
    (remote / "src").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (remote / "src" / "file").symlink_to(victim)
    assert tunnel("upload", "-r", str(source), str(remote)).returncode == 0
    assert victim.read_text() == "untouched"
    assert not (remote / "src" / "file").is_symlink() and (remote / "src" / "file").read_text() == "new"


def test_upload_r_keeps_the_mode_of_existing_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "old").write_text("new content")
    (source / "new").write_text("new file")
    os.chmod(source / "old", 0o644)
    os.chmod(source / "new", 0o640)
    remote = tmp_path / "remote"
    (remote / "src").mkdir(parents=True)
    (remote / "src" / "old").write_text("old content")
    os.chmod(remote / "src" / "old", 0o600)
    assert tunnel("upload", "-r", str(source), str(remote)).returncode == 0
    assert (remote / "src" / "old").read_text() == "new content"
    assert os.stat(remote / "src" / "old").st_mode & 0o7777 == 0o600
    assert os.stat(remote / "src" / "new").st_mode & 0o7777 == 0o640
    assert tunnel("upload", "-r", "-p", str(source), str(remote)).returncode == 0
    assert os.stat(remote / "src" / "old").st_mode & 0o7777 == 0o644
    assert tunnel("upload", "-r", "--mode", "604", str(source), str(remote)).returncode == 0
    assert os.stat(remote / "src" / "old").st_mode & 0o7777 == 0o604


def test_dot_as_the_tree_copies_its_content_into_the_destination(tmp_path):
    """`upload -r . REMOTE` and `download -r REMOTE/. LOCAL`: "." has no name of its own, so the
    content goes into the existing destination (never into its parent for "..")."""
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "f").write_text("f")
    remote = tmp_path / "remote"
    remote.mkdir()
    result = subprocess.run([str(TUNNEL), "upload", "-r", ".", str(remote)], cwd=source, capture_output=True,
                            env=dict(os.environ, TUNNEL_VIA=str(AGENT)), timeout=30)
    assert result.returncode == 0, result.stderr
    assert (remote / "sub" / "f").read_text() == "f"
    back = tmp_path / "back"
    back.mkdir()
    assert tunnel("download", "-r", f"{remote}/.", str(back)).returncode == 0
    assert (back / "sub" / "f").read_text() == "f"
    inner = tmp_path / "inner"
    inner.mkdir()
    assert tunnel("download", "-r", f"{remote}/sub/..", str(inner)).returncode == 0
    assert (inner / "sub" / "f").read_text() == "f" and not (tmp_path / "sub").exists()


def test_durable_upload_r(tmp_path):
    """UploadBeneath joins a durable session's group of uploads, answered in order."""
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    for index in range(40):
        (source / "sub" / f"f{index}").write_text(str(index))
    remote = tmp_path / "remote"
    remote.mkdir()
    assert tunnel("--durable", "upload", "-r", str(source), str(remote)).returncode == 0
    assert subprocess.run(["diff", "-r", str(source), str(remote / "src")]).returncode == 0


def test_download_r_of_an_endless_tree_ends_in_an_error(tmp_path):
    """A target listing folders without end: the copy stops (open folders or depth), no crash."""
    result = tunnel("--via", fake("endless"), "download", "-r", "/t", str(tmp_path / "dest"))
    subprocess.run(["rm", "-rf", str(tmp_path / "dest")], check=True)   # too deep for Python 3.11's rmtree
    assert result.returncode == 255, result
    assert b"is deeper than 2048 folders" in result.stderr or b"Too many open files" in result.stderr, result


@pytest.mark.parametrize("command", [["ls", "-l", "/t"], ["download", "-r", "/t"]], ids=["ListDir", "ReadBeneath"])
def test_a_listing_without_end_ends_in_an_error(tmp_path, command):
    """A target whose listing of a folder never ends (no page marked last): tunnel gives
    up at its documented cap, with an error, its memory bounded. Under an address-space limit
    (which a listing held whole without a cap outgrows: the kernel refuses it memory), so the
    test cannot hang or take the machine's memory."""
    result = listing_under_a_memory_limit("endless-listing", command, tmp_path)
    assert b"connection was abandoned" in result.stderr, result


def listing_under_a_memory_limit(scenario, command, tmp_path, limit=768 << 20):
    """`tunnel COMMAND` against a fake target's `scenario` under an address-space limit,
    which fails the client if it holds the listing whole; it must stop at the byte cap."""
    result = subprocess.run(
        [str(TUNNEL), "--via", fake(scenario), *command] + ([str(tmp_path / "d")] if command[0] == "download" else []),
        capture_output=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert result.returncode == 255, result
    assert b"the listing of '/t' holds more than 64 MiB of names" in result.stderr, result
    return result


@pytest.mark.parametrize("command", [["ls"], ["download", "-r"]], ids=["ListDir", "ReadBeneath"])
def test_a_listing_refused_with_a_long_path_is_reported_as_it_is(tmp_path, command):
    """The caps of a listing's pages (names of 1 KiB at most) are not a refusal's: a missing
    folder whose path is longer is the agent's "No such file or directory", exit status 1."""
    missing = "/nonexistent" + "/abcdefghij" * 150
    result = tunnel(*command, missing, *([str(tmp_path / "d")] if command[0] == "download" else []))
    assert result.returncode == 1, result
    assert b"No such file or directory" in result.stderr, result


def wait_until(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
@pytest.mark.parametrize("recursive", [False, True], ids=["file", "tree"])
def test_an_interrupted_download_leaves_no_temporary_file(tmp_path, number, recursive):
    dest = tmp_path / "dest"
    dest.mkdir()
    args = ["download", "-r", "/t", str(dest / "t")] if recursive else ["download", "/t/big", str(dest / "big")]
    folder = dest / "t" if recursive else dest
    process = subprocess.Popen([str(TUNNEL), "--via", fake("stall"), *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

    def partial_download():
        return folder.is_dir() and any(p.stat().st_size >= 1 << 20 for p in folder.iterdir())
    wait_until(partial_download)
    process.send_signal(number)
    assert process.wait(timeout=30) == -number
    assert os.listdir(folder) == []


SUBCOMMANDS = [
    ["run", "--", "true"],
    ["run", "--no-stream", "--", "true"],
    ["upload", "{small}", "{remote}/a"],
    ["upload", "{big}", "{remote}/b"],
    ["upload", "-", "{remote}/c"],
    ["upload", "-r", "{tree}", "{remote}/d"],
    ["download", "{small}", "{local}/e"],
    ["download", "{small}"],
    ["download", "-r", "{tree}", "{local}/f"],
    ["upload", "/dev/stdin", "{remote}/g"],
    ["stat", "{small}"],
    ["ls", "{tree}"],
    ["getenv", "HOME"],
    ["ping"],
    ["user"],
    ["group"],
    ["mkdir", "{remote}/m"],
    ["rm", "-f", "{remote}/missing"],
    ["mv", "{tree}/f", "{tree}/moved"],
    ["chmod", "600", "{small}"],
    ["chown", "0", "{small}"],
    ["ln", "-s", "target", "{remote}/link"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: "-".join(w for w in c if "{" not in w))
def test_the_transport_inherits_only_stdin_stdout_and_stderr(tmp_path, command):
    """The transport (here a script in front of the agent) lists its open descriptors:
    nothing tunnel opened (the upload's temporary copy, the other pipe ends) is there."""
    record = tmp_path / "fds"
    wrapper = tmp_path / "via.sh"
    wrapper.write_text(f'#!/bin/sh\nls -l /proc/self/fd > {record}\nexec {AGENT} "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "small").write_bytes(b"small")
    (tmp_path / "big").write_bytes(b"b" * (1 << 20))
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "f").write_text("f")
    (tmp_path / "remote").mkdir()
    (tmp_path / "local").mkdir()
    words = [w.format(small=tmp_path / "small", big=tmp_path / "big", tree=tmp_path / "tree",
                      remote=tmp_path / "remote", local=tmp_path / "local") for w in command]
    result = subprocess.run([str(TUNNEL), "--via", str(wrapper), *words], input=b"stdin content",
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    inherited = set()
    for line in record.read_text().splitlines():
        if " -> " not in line:
            continue
        fd, target = line.split(" -> ")[0].split()[-1], line.split(" -> ")[1]
        if target.startswith("/proc/") and target.endswith("/fd"):
            continue   # ls's own listing of the folder
        inherited.add((int(fd), target))
    assert {fd for fd, _ in inherited} == {0, 1, 2}, inherited


# The agent's side of the tree transfers: UploadBeneath, ReadBeneath, CreateBeneath (42-44).

def test_beneath_requests_refuse_paths_that_are_not_single_names(raw_agent, tmp_path):
    import extensions as x
    for path in [b"../x", b"a//b", b"./a", b"a/", b"/a", b"a\x00b"]:
        name, fields = raw_agent.ask(x.read_beneath(str(tmp_path).encode(), path))
        assert (name, fields["field"]) == ("InvalidField", "path"), path
        assert raw_agent.ask(x.create_beneath(str(tmp_path).encode(), path))[0] == "InvalidField"
        assert raw_agent.ask(x.upload_beneath(str(tmp_path).encode(), path, b"x"))[0] == "InvalidField"
    assert raw_agent.ask(x.create_beneath(str(tmp_path).encode(), b""))[0] == "InvalidField"
    assert os.listdir(tmp_path) == []


def test_beneath_requests_follow_no_symlink_below_the_root(raw_agent, tmp_path):
    import extensions as x
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("outside")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    base = str(root).encode()
    assert raw_agent.ask(x.read_beneath(base, b"link")) == ("LinkTarget", {"target": str(outside).encode()})
    name, fields = raw_agent.ask(x.read_beneath(base, b"link/file"))
    assert name == "OSError" and fields["errno"] == 20   # ENOTDIR: the link is not entered
    assert raw_agent.ask(x.create_beneath(base, b"link/new"))[1]["errno"] == 20
    assert raw_agent.ask(x.create_beneath(base, b"link"))[1]["errno"] == 17   # EEXIST: a link is no folder
    assert raw_agent.ask(x.upload_beneath(base, b"link/new", b"x"))[1]["errno"] == 20
    assert os.listdir(outside) == ["file"]
    # Nor is the root reached through a symlink (ELOOP): the client resolves it first
    # (test_root_pin.py).
    (tmp_path / "root-link").symlink_to(root)
    name, fields = raw_agent.ask(x.create_beneath(str(tmp_path / "root-link").encode(), b"made", mode="750"))
    assert name == "OSError" and fields["errno"] == 40 and not (root / "made").exists()
    assert raw_agent.ask(x.create_beneath(base, b"made", mode="750")) == ("Ok", {})
    assert os.stat(root / "made").st_mode & 0o7777 == 0o750
    assert raw_agent.ask(x.create_beneath(base, b"made")) == ("Ok", {})   # an existing folder is fine
    assert raw_agent.ask(x.create_beneath(base, b"made/l", link_target=b"../x\xff")) == ("Ok", {})
    assert os.readlink(os.fsencode(root / "made" / "l")) == b"../x\xff"


def test_read_beneath_answers_by_kind(raw_agent, tmp_path):
    import extensions as x
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / os.fsdecode(b"f\xff")).write_bytes(b"content")
    os.mkfifo(tmp_path / "fifo")
    base = str(tmp_path).encode()
    name, fields = raw_agent.ask(x.read_beneath(base, b"d", with_status=True))
    assert name == "DirEntries" and [e[:2] for e in fields["entries"]] == [(b"f\xff", "file")]
    assert raw_agent.ask(x.read_beneath(base, b"d/f\xff")) == ("DownloadResult", {"content": b"content"})
    assert raw_agent.ask(x.read_beneath(base, b"fifo"))[1]["errno"] == 22   # never opened
    name, fields = raw_agent.ask(x.read_beneath(base, b""))
    assert name == "DirEntries" and sorted(e[0] for e in fields["entries"]) == [b"d", b"fifo"]


def test_upload_beneath_modes_and_non_utf8_names(raw_agent, tmp_path):
    import extensions as x
    base = str(tmp_path).encode()
    assert raw_agent.ask(x.upload_beneath(base, b"n\xff", b"new", new_file_mode="640")) == ("Ok", {})
    path = os.fsdecode(os.path.join(base, b"n\xff"))
    assert open(path, "rb").read() == b"new" and os.stat(path).st_mode & 0o7777 == 0o640
    os.chmod(path, 0o600)
    assert raw_agent.ask(x.upload_beneath(base, b"n\xff", b"again", new_file_mode="644")) == ("Ok", {})
    assert os.stat(path).st_mode & 0o7777 == 0o600   # an existing file keeps its mode
    assert raw_agent.ask(x.upload_beneath(base, b"n\xff", b"forced", mode="604", new_file_mode="644")) == ("Ok", {})
    assert os.stat(path).st_mode & 0o7777 == 0o604
    assert sorted(os.listdir(base)) == [b"n\xff"]


def test_set_metadata_beneath_changes_the_entry_itself_and_follows_no_symlink(raw_agent, tmp_path):
    import extensions as x
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("outside")
    os.chmod(outside / "file", 0o600)
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "link").symlink_to(outside)
    base = str(root).encode()
    with open(os.path.join(base, b"d/f\xff"), "wb") as file:
        file.write(b"f")
    assert raw_agent.ask(x.set_metadata_beneath(base, b"d/f\xff", mode="640", mtime=1_000_000_000_000_000_007)) == ("Ok", {})
    status = os.stat(os.path.join(base, b"d/f\xff"))
    assert status.st_mode & 0o7777 == 0o640 and status.st_mtime_ns == 1_000_000_000_000_000_007
    name, fields = raw_agent.ask(x.set_metadata_beneath(base, b"link/file", mode="777"))
    assert name == "OSError" and fields["errno"] == 20   # ENOTDIR: the link is not entered
    name, fields = raw_agent.ask(x.set_metadata_beneath(base, b"link", mode="777"))
    assert name == "OSError" and fields["errno"] == 95   # EOPNOTSUPP: a symlink's own mode, never its target's
    assert os.stat(outside / "file").st_mode & 0o7777 == 0o600 and os.stat(outside).st_mode & 0o7777 != 0o777
    for path in [b"../root/d", b"d//f", b"/d", b"."]:   # b"": the root itself (test_sync_trust.py)
        assert raw_agent.ask(x.set_metadata_beneath(base, path, mode="700"))[0] == "InvalidField", path
    assert raw_agent.ask(x.set_metadata_beneath(base, b"d", mode="9"))[0] == "InvalidField"
    assert os.stat(root / "d").st_mode & 0o7777 != 0o700


@pytest.mark.parametrize("command", [["chown", "-R", "0"], ["chmod", "-R", "755"]])
def test_chown_and_chmod_r_of_an_endless_tree_end_in_an_error(command):
    """walk (chmod -R, chown -R) against a target listing folders without end: an error
    after a bounded depth, never a crash of tunnel (its recursion) or a walk without end."""
    result = tunnel("--via", fake("endless"), *command, "/t")
    assert result.returncode == 255, result
    assert b"deeper than 2048 folders" in result.stderr, result


# chmod -R and chown -R change each listed entry with SetMetadataBeneath (45), relative to
# the tree's root: never through a folder swapped for a symlink after the listing.

CHANGES_R = [pytest.param(["chmod", "-R", "777"], id="chmod"),
             pytest.param(["chown", "-R", "12345:12345"], id="chown",
                          marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root"))]


@pytest.mark.parametrize("command", CHANGES_R)
def test_chmod_and_chown_r_never_follow_a_folder_swapped_in_after_the_listing(tmp_path, command):
    """A proxy between tunnel and a real agent swaps the folder `swapme` for a symlink to a
    folder outside the tree just before the change of `swapme/harmless` goes through (its
    request is the first to carry `swapme/`): the file of the same name outside is never
    changed, and the change fails."""
    tree, secret, via = swapping_proxy(tmp_path, b"swapme/")
    os.chmod(secret / "harmless", 0o600)
    before = os.stat(secret / "harmless")
    result = tunnel("--via", via, *command, str(tree))
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    after = os.stat(secret / "harmless")
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert result.returncode != 0 and b"Not a directory" in result.stderr, result


@pytest.mark.parametrize("command", [["chmod", "-R", "755"], ["chown", "-R", "0"]])
def test_chmod_and_chown_r_refuse_an_agent_without_set_metadata_beneath(command):
    """Never the unsafe fallback (a change by full path): a clear refusal before any change
    (the fake agent ends the session on a SetMetadata it does not expect)."""
    result = tunnel("--via", fake("before-45"), *command, "/t")
    assert result.returncode == 255 and b"does not serve SetMetadataBeneath" in result.stderr, result

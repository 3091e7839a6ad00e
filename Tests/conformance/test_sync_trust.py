"""tunnel sync's push and upload -r -p into a DEST other users can write (issue 20): every
change of mode, owner or mtime and every removal is made relative to DEST
(SetMetadataBeneath 45, RemoveBeneath 46), so a folder swapped for a symlink between the
listing and the change fails the change instead of leading it outside the tree. The swap
is made by test_client_trust's proxy, just before the request that names the folder's
entry reaches the real agent."""
import os

import pytest

import extensions as x
from test_cli import TUNNEL, tunnel
from test_client_trust import fake, swapping_proxy
from test_extensions import agent as raw_agent  # noqa: F401  (a fixture: the agent with the extension codec)

needs_client = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
OLD = 1_500_000_000_000_000_000   # an mtime (ns) from the past


def source_like(tmp_path, content, mode=0o644, mtime=None):
    """A local folder `src` holding `swapme/harmless`, as the DEST tree of swapping_proxy."""
    source = tmp_path / "src"
    (source / "swapme").mkdir(parents=True)
    (source / "swapme" / "harmless").write_text(content)
    os.chmod(source / "swapme" / "harmless", mode)
    if mtime is not None:
        os.utime(source / "swapme" / "harmless", ns=(mtime, mtime))
    return source


def same_mtime(tree, source):
    """DEST's `swapme/harmless` gets the source's mtime: the quick check then sees only the
    attribute that differs."""
    mtime = os.stat(source / "swapme" / "harmless").st_mtime_ns
    os.utime(tree / "swapme" / "harmless", ns=(mtime, mtime))


@needs_client
@pytest.mark.parametrize("attribute", ["mode", "owner"])
def test_sync_push_never_changes_an_attribute_through_a_swapped_folder(tmp_path, attribute):
    """The file outside keeps its mode and owner: the change of `swapme/harmless` goes to
    DEST's own entry or fails (ENOTDIR), never through the symlink swapped in for `swapme`."""
    if attribute == "owner" and os.geteuid() != 0:
        pytest.skip("owners are copied only when the receiving side is root")
    tree, secret, via = swapping_proxy(tmp_path, b"swapme/")
    os.chmod(secret / "harmless", 0o644)
    source = source_like(tmp_path, "harmless", mode=0o600 if attribute == "mode" else 0o644)
    os.chmod(tree / "swapme" / "harmless", 0o644)
    if attribute == "owner":
        os.chown(source / "swapme" / "harmless", 65534, 65534)
    same_mtime(tree, source)
    before = os.stat(secret / "harmless")
    result = tunnel("--via", via, "sync", f"{source}/", f":{tree}")
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    after = os.stat(secret / "harmless")
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert result.returncode == 23 and b"Not a directory" in result.stderr, result


@needs_client
def test_sync_delete_never_removes_through_a_swapped_folder(tmp_path):
    """--delete of `swapme/harmless` (SRC's `swapme` is empty) removes DEST's entry or fails,
    never the file of the same name outside, behind the symlink swapped in for `swapme`."""
    tree, secret, via = swapping_proxy(tmp_path, b"swapme/")
    source = tmp_path / "src"
    (source / "swapme").mkdir(parents=True)
    result = tunnel("--via", via, "sync", "--delete", f"{source}/", f":{tree}")
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    assert (secret / "harmless").read_text() == "secret"
    assert result.returncode == 23 and b"Not a directory" in result.stderr, result


@needs_client
def test_sync_mtimes_never_go_through_a_swapped_folder(tmp_path):
    """A changed file is sent with UploadBeneath, then given its mtime: that too is relative
    to DEST, so the file outside keeps its own."""
    tree, secret, via = swapping_proxy(tmp_path, b"swapme/")
    source = source_like(tmp_path, "changed content", mtime=OLD)
    before = os.stat(secret / "harmless").st_mtime_ns
    result = tunnel("--via", via, "sync", f"{source}/", f":{tree}")
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    assert os.stat(secret / "harmless").st_mtime_ns == before != OLD
    assert (secret / "harmless").read_text() == "secret"
    assert result.returncode == 23, result


@needs_client
def test_upload_r_p_sets_no_mtime_through_a_swapped_folder(tmp_path):
    """upload -r -p sets each mtime relative to the tree's root, as sync does."""
    tree, secret, via = swapping_proxy(tmp_path, b"swapme/")
    local = tmp_path / "local" / tree.name
    (local / "swapme").mkdir(parents=True)
    (local / "swapme" / "harmless").write_text("new")
    os.utime(local / "swapme" / "harmless", ns=(OLD, OLD))
    before = os.stat(secret / "harmless").st_mtime_ns
    result = tunnel("--via", via, "upload", "-r", "-p", str(local), str(tree.parent))
    assert (tree / "swapme").is_symlink(), "the proxy swapped the folder"
    assert os.stat(secret / "harmless").st_mtime_ns == before != OLD
    assert result.returncode == 23, result


@needs_client
def test_sync_push_refuses_an_agent_without_remove_beneath(tmp_path):
    """Never the unsafe fallback (a removal or change by full path): refused before any
    change (the fake agent ends the session on a Remove or SetMetadata)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("f")
    result = tunnel("--via", fake("before-46"), "sync", "--delete", f"{source}/", ":/t")
    assert result.returncode == 255 and b"does not serve RemoveBeneath" in result.stderr, result


def test_set_metadata_beneath_of_an_empty_path_changes_the_root_itself(raw_agent, tmp_path):
    """What sync gives DEST itself (SRC's mode and mtime) at the end; the root is reached
    without a symlink, as every root (ELOOP through one: test_root_pin.py)."""
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    (tmp_path / "root-link").symlink_to(root)
    name, fields = raw_agent.ask(x.set_metadata_beneath(str(tmp_path / "root-link").encode(), b"", mode="750"))
    assert name == "OSError" and fields["errno"] == 40 and os.stat(root).st_mode & 0o7777 == 0o755
    answer = raw_agent.ask(x.set_metadata_beneath(str(root).encode(), b"", mode="750", mtime=OLD))
    assert answer == ("Ok", {})
    status = os.stat(root)
    assert status.st_mode & 0o7777 == 0o750 and status.st_mtime_ns == OLD
    assert os.lstat(tmp_path / "root-link").st_mtime_ns != OLD


def test_remove_beneath_removes_the_entry_itself_and_follows_no_symlink(raw_agent, tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "file").write_text("outside")
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f").write_text("f")
    (root / "link").symlink_to(outside)
    (root / "d" / "inner-link").symlink_to(outside)
    with open(os.path.join(str(root).encode(), b"name\xff"), "wb") as file:
        file.write(b"x")
    base = str(root).encode()
    # The folders on the way are never followed: ENOTDIR, the outside untouched.
    for path, recursive in [(b"link/file", False), (b"link/deep", True)]:
        name, fields = raw_agent.ask(x.remove_beneath(base, path, recursive))
        assert name == "OSError" and fields["errno"] == 20, path
    # Nor the entry itself: a symlink is removed, not what it points to.
    assert raw_agent.ask(x.remove_beneath(base, b"link", recursive=True)) == ("Ok", {})
    assert not os.path.lexists(root / "link") and (outside / "file").read_text() == "outside"
    # A folder that is not empty goes only with `recursive`, and then with all below it,
    # links removed as links.
    name, fields = raw_agent.ask(x.remove_beneath(base, b"d"))
    assert name == "OSError" and fields["errno"] == 39   # ENOTEMPTY
    assert raw_agent.ask(x.remove_beneath(base, b"d", recursive=True)) == ("Ok", {})
    assert not (root / "d").exists() and (outside / "deep").is_dir()
    assert raw_agent.ask(x.remove_beneath(base, b"name\xff")) == ("Ok", {})
    assert os.listdir(root) == []
    name, fields = raw_agent.ask(x.remove_beneath(base, b"missing"))
    assert name == "OSError" and fields["errno"] == 2
    # Never the root itself, nor a path that is not single names below it.
    for path in [b"", b".", b"../root", b"a//b", b"/etc"]:
        assert raw_agent.ask(x.remove_beneath(base, path, recursive=True))[0] == "InvalidField", path
    assert root.is_dir()



@needs_client
def test_upload_r_p_refuses_an_agent_without_set_metadata_beneath(tmp_path):
    """-p's mtimes are never set by full path: refused before anything is sent (the fake
    agent ends the session on any request that would copy)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("f")
    result = tunnel("--via", fake("before-45"), "upload", "-r", "-p", str(source), "/t")
    assert result.returncode == 255 and b"does not serve SetMetadataBeneath" in result.stderr, result

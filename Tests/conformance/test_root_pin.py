"""A tree's root is pinned (issue 20; docs/security.md, "A tree's root is pinned").

The agent opens the root of every `*Beneath` request (42-46) without following a symlink
anywhere in its path, so that swapping the root, or a folder above it, for a symlink between
two requests of one operation cannot lead the rest of the operation outside the tree. The
client resolves a root the user named through a symlink once, at the start of each tree
operation, so that such roots still work end to end."""

import os

import pytest

import extensions as x
from harness import AGENT
from test_cli import TUNNEL, tunnel
from test_extensions import Agent
from test_extensions import agent as raw_agent  # noqa: F401  (a fixture: the agent with the extension codec)

ELOOP, ENOTDIR = 40, 20
needs_client = pytest.mark.skipif(not TUNNEL.exists(), reason="needs dist/tunnel (make client)")


def tree_and_outside(tmp_path):
    """`parent/root` holding `f` (mode 644) and `d/`, and `outside` holding the same names:
    what a swapped root would lead to."""
    for top in (tmp_path / "parent" / "root", tmp_path / "outside"):
        (top / "d").mkdir(parents=True)
        (top / "f").write_text("inside" if top.name == "root" else "outside")
        os.chmod(top / "f", 0o644)
    return tmp_path / "parent" / "root", tmp_path / "outside"


def requests_of_one_operation(root):
    """One request of each of 42-46, all naming `root` (bytes)."""
    return [
        ("UploadBeneath", x.upload_beneath(root, b"f", b"written", mode="600")),
        ("ReadBeneath", x.read_beneath(root, b"f")),
        ("ReadBeneath of the root", x.read_beneath(root, b"")),
        ("CreateBeneath", x.create_beneath(root, b"new", mode="700")),
        ("SetMetadataBeneath", x.set_metadata_beneath(root, b"f", mode="600")),
        ("SetMetadataBeneath of the root", x.set_metadata_beneath(root, b"", mode="700")),
        ("RemoveBeneath", x.remove_beneath(root, b"d", recursive=True)),
    ]


def assert_outside_untouched(outside):
    assert (outside / "f").read_text() == "outside"
    assert os.stat(outside / "f").st_mode & 0o7777 == 0o644
    assert os.stat(outside).st_mode & 0o7777 == 0o755
    assert sorted(os.listdir(outside)) == ["d", "f"]


@pytest.mark.parametrize("swapped", ["root", "parent"])
def test_a_root_swapped_for_a_symlink_between_two_requests_leads_nowhere(raw_agent, tmp_path, swapped):
    """The reviewer's reproduction: the first request of an operation reaches the tree; then
    whoever may rename the root (or a folder above it) swaps it for a symlink to `outside`.
    Every later request of the operation fails (ELOOP) and `outside` is left as it was."""
    root, outside = tree_and_outside(tmp_path)
    os.chmod(outside, 0o755)
    assert raw_agent.ask(x.set_metadata_beneath(str(root).encode(), b"f", mode="640")) == ("Ok", {})
    if swapped == "root":
        os.rename(root, tmp_path / "parent" / "away")
        os.symlink(outside, root)
    else:
        # `parent/root` now leads to `outside` through `parent`, a symlink to tmp_path/decoy.
        (tmp_path / "decoy").mkdir()
        os.symlink(outside, tmp_path / "decoy" / "root")
        os.rename(tmp_path / "parent", tmp_path / "away")
        os.symlink(tmp_path / "decoy", tmp_path / "parent")
    for what, request in requests_of_one_operation(str(root).encode()):
        name, fields = raw_agent.ask(request)
        assert (name, fields.get("errno")) == ("OSError", ELOOP), (what, name, fields)
    assert_outside_untouched(outside)


def test_a_root_through_a_symlink_is_refused_and_a_real_one_served(raw_agent, tmp_path):
    """Relative roots too (from the agent's working directory); a symlink as the root's
    last name is ELOOP as well, never followed."""
    root, outside = tree_and_outside(tmp_path)
    os.symlink(root, tmp_path / "link")
    for base in [str(tmp_path / "link").encode(), str(tmp_path / "link").encode() + b"/",
                 str(tmp_path / "link").encode() + b"/../parent/root"]:
        for what, request in requests_of_one_operation(base):
            name, fields = raw_agent.ask(request)
            assert (name, fields.get("errno")) == ("OSError", ELOOP), (base, what, name, fields)
    assert (root / "f").read_text() == "inside" and (root / "d").is_dir()
    # The real path, with "." and ".." (no symlink): served.
    real = str(tmp_path / "parent" / "." / ".." / "parent" / "root").encode()
    for what, request in requests_of_one_operation(real):
        assert raw_agent.ask(request)[0] != "OSError", what
    assert (root / "f").read_text() == "written" and (root / "new").is_dir() and not (root / "d").exists()


def test_a_relative_root_is_walked_from_the_working_directory(tmp_path):
    root, _ = tree_and_outside(tmp_path)
    os.symlink("parent", tmp_path / "link")
    agent = Agent(["sh", "-c", 'cd "$1" && exec "$2"', "sh", str(tmp_path), str(AGENT)])
    assert agent.ask(x.read_beneath(b"parent/root", b"f"))[0] == "DownloadResult"
    name, fields = agent.ask(x.read_beneath(b"link/root", b"f"))
    assert (name, fields.get("errno")) == ("OSError", ELOOP)
    assert agent.close()[0] == 0


def test_under_root_a_symlink_in_the_root_is_refused_too(tmp_path):
    """--root combines RESOLVE_IN_ROOT with RESOLVE_NO_SYMLINKS: a root through a symlink
    inside the jail is ELOOP, a real one is served beneath the jail."""
    jail = tmp_path / "jail"
    (jail / "tree" / "d").mkdir(parents=True)
    (jail / "tree" / "f").write_text("inside")
    os.symlink("/tree", jail / "link")
    agent = Agent([str(AGENT), "--root", str(jail)])
    assert agent.ask(x.set_metadata_beneath(b"/tree", b"f", mode="600")) == ("Ok", {})
    assert os.stat(jail / "tree" / "f").st_mode & 0o7777 == 0o600
    for what, request in requests_of_one_operation(b"/link"):
        name, fields = agent.ask(request)
        assert (name, fields.get("errno")) == ("OSError", ELOOP), (what, name, fields)
    assert (jail / "tree" / "f").read_text() == "inside" and (jail / "tree" / "d").is_dir()
    assert agent.close()[0] == 0


# --- The client: a root named through a symlink still works, resolved once ---------------

def linked_tree(tmp_path):
    """`real` (a folder holding `sub/file`) and `x/link` → `../real` (relative)."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "file").write_text("remote")
    (tmp_path / "x").mkdir()
    os.symlink("../real", tmp_path / "x" / "link")
    return real, str(tmp_path / "x" / "link")


def local_source(tmp_path, files):
    """tmp_path/src holding `files` (relative path → content)."""
    for relative, content in files.items():
        (tmp_path / "src" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / relative).write_text(content)
    return tmp_path / "src"


@needs_client
def test_upload_r_into_a_root_through_a_symlink(tmp_path):
    real, link = linked_tree(tmp_path)
    source = local_source(tmp_path, {"deep/new": "new"})
    result = tunnel("upload", "-r", "-p", str(source), link + "/")
    assert result.returncode == 0, result.stderr
    assert (real / "src" / "deep" / "new").read_text() == "new"
    assert os.path.islink(tmp_path / "x" / "link")


@needs_client
@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to user 65534 needs root")
def test_upload_with_a_numeric_owner_into_a_folder_through_a_symlink(tmp_path):
    """A numeric owner goes by UploadBeneath (its folder as the root): pinned too."""
    real, link = linked_tree(tmp_path)
    local = local_source(tmp_path, {"f": "numeric"}) / "f"
    result = tunnel("upload", "--owner", "65534", str(local), link + "/sub/f")
    assert result.returncode == 0, result.stderr
    assert (real / "sub" / "f").read_text() == "numeric" and os.stat(real / "sub" / "f").st_uid == 65534


@needs_client
def test_download_r_of_a_root_through_a_symlink(tmp_path):
    """Through a folder that is a symlink (`x/link/sub`) or with a trailing "/" (`x/link/`):
    the tree behind it; `x/link` itself is still copied as the symlink it is."""
    real, link = linked_tree(tmp_path)
    for source, copy in [(link + "/sub", "copy-sub"), (link + "/", "copy-slash")]:
        result = tunnel("download", "-r", source, str(tmp_path / copy))
        assert result.returncode == 0, result.stderr
        copied = [os.path.join(folder, name) for folder, _, names in os.walk(tmp_path / copy) for name in names]
        assert len(copied) == 1 and open(copied[0]).read() == "remote", copied
    assert tunnel("download", "-r", link, str(tmp_path / "copy-link")).returncode == 0
    assert os.readlink(tmp_path / "copy-link") == "../real"


@needs_client
def test_sync_both_ways_with_a_root_through_a_symlink(tmp_path):
    real, link = linked_tree(tmp_path)
    source = local_source(tmp_path, {"sub/file": "pushed", "added": "added"})
    result = tunnel("sync", "--delete", f"{source}/", f":{link}/")
    assert result.returncode == 0, result.stderr
    assert (real / "sub" / "file").read_text() == "pushed" and (real / "added").read_text() == "added"
    assert os.path.islink(tmp_path / "x" / "link")
    result = tunnel("sync", f":{link}/", f"{tmp_path / 'pulled'}/")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pulled" / "sub" / "file").read_text() == "pushed"
    assert (tmp_path / "pulled" / "added").read_text() == "added"


@needs_client
def test_chmod_and_chown_r_of_a_root_through_a_symlink(tmp_path):
    real, link = linked_tree(tmp_path)
    result = tunnel("chmod", "-R", "700", link)
    assert result.returncode == 0, result.stderr
    assert os.stat(real / "sub" / "file").st_mode & 0o7777 == 0o700
    assert os.stat(real / "sub").st_mode & 0o7777 == 0o700
    if os.geteuid() == 0:
        result = tunnel("chown", "-R", "65534:65534", link)
        assert result.returncode == 0, result.stderr
        assert os.stat(real / "sub" / "file").st_uid == 65534


@needs_client
def test_the_client_resolves_chains_dot_dot_and_refuses_a_loop(tmp_path):
    """Relative targets against their own folder, ".." after the name before it is resolved
    (as the kernel: `hop/..` is the folder above hop's target, not x), links to links; a
    loop stops after 40 links with ELOOP, and nothing is changed."""
    real, _ = linked_tree(tmp_path)
    os.symlink(str(real / "sub"), tmp_path / "x" / "hop")           # absolute, to a folder of real
    os.symlink("hop/../sub/.", tmp_path / "x" / "chain")            # → real/sub/../sub = real/sub
    result = tunnel("chmod", "-R", "750", str(tmp_path / "x" / "chain"))
    assert result.returncode == 0, result.stderr
    assert os.stat(real / "sub" / "file").st_mode & 0o7777 == 0o750
    os.symlink("loop-b", tmp_path / "x" / "loop-a")
    os.symlink("loop-a", tmp_path / "x" / "loop-b")
    result = tunnel("upload", "-r", str(real / "sub"), str(tmp_path / "x" / "loop-a"))
    assert result.returncode != 0 and b"Too many levels of symbolic links" in result.stderr, result
    assert sorted(os.listdir(tmp_path / "x")) == ["chain", "hop", "link", "loop-a", "loop-b"]

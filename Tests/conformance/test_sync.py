"""tunnel sync against rsync itself (issue 22): the same source pushed by rsync -a and by
tunnel sync into two folders gives identical trees (content, modes, mtimes, links);
--delete, -n, -i, --exclude, the trailing-slash rule, odd names, and a partial sync (23)."""
import os
import shutil
import subprocess

import pytest

from harness import AGENT
from test_cli import TUNNEL, tunnel

pytestmark = [pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first"),
              pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is missing: scripts/setup.sh test")]

ODD = ["with space", "new\nline", "-dash", os.fsdecode(b"not-utf8-\xff")]


def make_source(folder):
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "empty").mkdir()
    (folder / "a").write_text("a")
    (folder / "sub" / "b").write_bytes(os.urandom(70_000))
    (folder / "sub" / "deeper" / "c").write_text("c")
    (folder / "sub" / "link").symlink_to("b")
    (folder / "dangling").symlink_to("nowhere")
    for name in ODD:
        (folder / name).write_bytes(os.fsencode(name))
    os.chmod(folder / "a", 0o600)
    os.chmod(folder / "sub" / "deeper", 0o750)
    for index, path in enumerate(sorted(folder.rglob("*"), reverse=True)):
        ns = 1_600_000_000_000_000_000 + index * 1_000_000_007
        os.utime(path, ns=(ns, ns), follow_symlinks=False)


def snapshot(folder):
    """Every entry below `folder`: type, mode, mtime (ns), content or link target."""
    found = {}
    for base, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(base, name)
            info = os.lstat(path)
            if os.path.islink(path):
                what = ("link", os.readlink(path))
            elif os.path.isdir(path):
                what = ("dir", oct(info.st_mode & 0o7777))
            else:
                what = ("file", oct(info.st_mode & 0o7777), open(path, "rb").read())
            found[os.path.relpath(path, folder)] = (what, info.st_mtime_ns)
    return found


def rsync(*args):
    return subprocess.run(["rsync", "-a", *args], capture_output=True, check=True)


def sync(*args):
    return tunnel("sync", *args)


@pytest.mark.parametrize("slash", [True, False], ids=["content", "folder"])
def test_sync_gives_the_tree_rsync_gives(tmp_path, slash):
    source = tmp_path / "src"
    make_source(source)
    by_rsync, by_tunnel = tmp_path / "by-rsync", tmp_path / "by-tunnel"
    suffix = "/" if slash else ""
    rsync(f"{source}{suffix}", str(by_rsync))
    result = sync(f"{source}{suffix}", f":{by_tunnel}")
    assert result.returncode == 0, result.stderr
    ours, theirs = snapshot(by_tunnel), snapshot(by_rsync)
    if not slash:
        # rsync (3.5.0 here) left the new top folder of `rsync -a src dest` with the time of
        # the copy, not the source's; sync keeps the source's.
        assert ours.pop("src")[1] == os.lstat(source).st_mtime_ns
        assert theirs.pop("src")[0] == ("dir", oct(os.lstat(source).st_mode & 0o7777))
    assert ours == theirs


def test_a_second_sync_itemizes_nothing_and_changes_follow_rsyncs_quick_check(tmp_path):
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    assert sync("-i", f"{source}/", f":{dest}").returncode == 0
    again = sync("-i", f"{source}/", f":{dest}")
    assert again.returncode == 0 and again.stdout == b"", again.stdout
    (source / "a").write_text("changed")
    os.chmod(source / "sub" / "deeper" / "c", 0o700)
    changed = sync("-i", f"{source}/", f":{dest}")
    assert changed.returncode == 0, changed.stderr
    lines = changed.stdout.decode().splitlines()
    assert any(line.startswith("<f.st") and line.endswith(" a") for line in lines), lines
    assert ".f...p..... sub/deeper/c" in lines, lines
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_delete_leaves_only_what_src_has_except_excluded(tmp_path):
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    assert sync(f"{source}/", f":{dest}").returncode == 0
    (dest / "extra").write_text("x")
    (dest / "extra-folder" / "inside").mkdir(parents=True)
    (dest / "kept.log").write_text("kept")
    (dest / "sub" / "b").unlink()
    (dest / "sub" / "b").mkdir()   # another kind in the way
    result = sync("--delete", "--exclude", "*.log", "-i", f"{source}/", f":{dest}")
    assert result.returncode == 0, result.stderr
    assert "*deleting   extra" in result.stdout.decode()
    assert (dest / "kept.log").exists()
    (dest / "kept.log").unlink()
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_dry_run_changes_nothing(tmp_path):
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    result = sync("-n", "-i", "--delete", f"{source}/", f":{dest}")
    assert result.returncode == 0, result.stderr
    assert not dest.exists()
    assert "<f+++++++++ a" in result.stdout.decode()
    dest.mkdir()
    (dest / "extra").write_text("x")
    before = snapshot(dest)
    assert sync("-n", "--delete", f"{source}/", f":{dest}").returncode == 0
    assert snapshot(dest) == before


def test_exclude_skips_names_and_paths(tmp_path):
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    result = sync("--exclude", "sub/deeper/", "--exclude", "with*", f"{source}/", f":{dest}")
    assert result.returncode == 0, result.stderr
    assert not (dest / "sub" / "deeper").exists() and not (dest / "with space").exists()
    assert (dest / "sub" / "b").exists()


def test_a_failed_entry_is_named_and_the_rest_synced_exit_23(tmp_path):
    """An agent that refuses Remove: the extra entry --delete would remove stays and is
    named; everything else is synced, and the exit status is 23, as rsync's."""
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "extra").write_text("x")
    env = dict(os.environ, TUNNEL_VIA=f"{AGENT} --deny Remove")
    result = subprocess.run([str(TUNNEL), "sync", "--delete", f"{source}/", f":{dest}"], capture_output=True,
                            env=env, timeout=60)
    assert result.returncode == 23, result.stderr
    assert b"Remove refused" in result.stderr and b"1 entry was not copied" in result.stderr, result.stderr
    (dest / "extra").unlink()
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_sync_refuses_two_local_or_two_remote_sides(tmp_path):
    assert sync(str(tmp_path), str(tmp_path / "x")).returncode == 2
    assert sync(f":{tmp_path}", f":{tmp_path}/x").returncode == 2

"""tunnel sync against rsync itself (issue 22): the same source pushed by rsync -a and by
tunnel sync into two folders gives identical trees (content, modes, mtimes, links);
--delete, -n, -i, --exclude, the trailing-slash rule, odd names, and a partial sync (23)."""
import os
import shutil
import subprocess
import sys

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
    age(folder)


def age(folder, base=1_600_000_000_000_000_000):
    """Times from the past: rsync leaves alone an mtime in the same second as the copy's, so
    a tree changed just now would differ by rsync's rounding, not by ours."""
    for index, path in enumerate([*sorted(folder.rglob("*"), reverse=True), folder]):
        ns = base + index * 1_000_000_007
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
    assert snapshot(by_tunnel) == snapshot(by_rsync)
    assert os.lstat(by_tunnel).st_mode == os.lstat(by_rsync).st_mode
    if slash:   # DEST itself is SRC's copy: rsync gives it SRC's mtime
        assert os.lstat(by_tunnel).st_mtime_ns == os.lstat(by_rsync).st_mtime_ns == os.lstat(source).st_mtime_ns


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
    lines = changed.stdout.decode(errors="surrogateescape").splitlines()
    assert any(line.startswith("<f.st") and line.endswith(" a") for line in lines), lines
    assert ".f...p..... sub/deeper/c" in lines, lines
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_a_push_with_nothing_to_change_sends_nothing_but_listings(tmp_path):
    """The agent's log of a second push: listings only. No folder is touched whose entries
    and attributes match, DEST included (each got a SetMetadata before)."""
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    assert sync(f"{source}/", f":{dest}").returncode == 0
    log = tmp_path / "agent.log"
    env = dict(os.environ, TUNNEL_VIA=f"{AGENT} --log {log}")
    result = subprocess.run([str(TUNNEL), "sync", f"{source}/", f":{dest}"], capture_output=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    requests = [line.split(": ", 1)[1].split(" ")[0] for line in log.read_text().splitlines()]
    assert [r for r in requests if r not in ("CheckAlive", "Hello", "ResolveUser", "StatPath", "ReadBeneath")] == [], requests
    # DEST's own mtime changed: set again, as rsync does.
    os.utime(dest, ns=(1_000_000_000_000_000_000,) * 2)
    assert sync(f"{source}/", f":{dest}").returncode == 0
    assert os.stat(dest).st_mtime_ns == os.stat(source).st_mtime_ns


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
    assert "*deleting   extra" in result.stdout.decode(errors="surrogateescape")
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
    assert "<f+++++++++ a" in result.stdout.decode(errors="surrogateescape")
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
    """An agent that refuses RemoveBeneath: the extra entry --delete would remove stays and
    is named; everything else is synced, and the exit status is 23, as rsync's."""
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "extra").write_text("x")
    env = dict(os.environ, TUNNEL_VIA=f"{AGENT} --deny RemoveBeneath")
    result = subprocess.run([str(TUNNEL), "sync", "--delete", f"{source}/", f":{dest}"], capture_output=True,
                            env=env, timeout=60)
    assert result.returncode == 23, result.stderr
    assert b"RemoveBeneath refused" in result.stderr and b"1 entry was not copied" in result.stderr, result.stderr
    (dest / "extra").unlink()
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_sync_refuses_two_local_or_two_remote_sides(tmp_path):
    assert sync(str(tmp_path), str(tmp_path / "x")).returncode == 2
    assert sync(f":{tmp_path}", f":{tmp_path}/x").returncode == 2


def test_as_root_and_unprivileged_an_unreadable_entry_is_named_and_the_rest_synced(identity):
    """rsync and sync, run as `identity`, on a tree with a file only root can read: as root
    both copy it; unprivileged both name it, copy the rest and exit 23."""
    from harness import as_user
    import tempfile
    work = tempfile.mkdtemp(prefix="tunnel-sync-")
    try:
        os.chmod(work, 0o755)
        source = os.path.join(work, "src")
        from pathlib import Path
        make_source(Path(source))
        secret = os.path.join(source, "sub", "m-secret")
        with open(secret, "w") as file:
            file.write("secret")
        os.chmod(secret, 0)
        for path in (secret, os.path.join(source, "sub"), source):
            os.utime(path, ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))
        if identity:
            import pwd
            entry = pwd.getpwnam(identity)
            for base, folders, files in os.walk(work):
                for name in [base, *(os.path.join(base, n) for n in folders + files)]:
                    os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

        def run(command):
            return subprocess.run(as_user(["env", f"TUNNEL_VIA={AGENT}", *command], identity), capture_output=True,
                                  timeout=60)
        by_rsync, by_tunnel = os.path.join(work, "by-rsync"), os.path.join(work, "by-tunnel")
        theirs = run(["rsync", "-a", source + "/", by_rsync])
        ours = run([str(TUNNEL), "sync", source + "/", f":{by_tunnel}"])
        expected = 0 if identity is None else 23
        assert (theirs.returncode, ours.returncode) == (expected, expected), (theirs.stderr, ours.stderr)
        if identity:
            assert b"m-secret" in ours.stderr and b"Permission denied" in ours.stderr, ours.stderr
        assert snapshot(by_tunnel) == snapshot(by_rsync)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def owners(folder):
    return {os.path.relpath(os.path.join(base, name), folder): (os.lstat(os.path.join(base, name)).st_uid,
                                                                 os.lstat(os.path.join(base, name)).st_gid)
            for base, folders, files in os.walk(folder) for name in folders + files}


@pytest.mark.skipif(os.getuid() != 0, reason="owners are copied only when the receiver is root")
@pytest.mark.parametrize("direction", ["push", "pull"])
def test_as_root_owners_and_groups_are_kept_as_rsync_keeps_them(tmp_path, unprivileged_user, direction):
    import pwd
    entry = pwd.getpwnam(unprivileged_user)
    source = tmp_path / "src"
    make_source(source)
    for path in (source / "a", source / "sub", source / "sub" / "link", source / "sub" / "deeper" / "c"):
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.chown(source / "empty", 0, entry.pw_gid)
    by_rsync, by_tunnel = tmp_path / "by-rsync", tmp_path / "by-tunnel"
    rsync(f"{source}/", str(by_rsync))
    sides = (f"{source}/", f":{by_tunnel}") if direction == "push" else (f":{source}/", str(by_tunnel))
    result = sync("-i", *sides)
    assert result.returncode == 0, result.stderr
    assert owners(by_tunnel) == owners(by_rsync)
    assert snapshot(by_tunnel) == snapshot(by_rsync)
    # An owner changed on the receiving side is put back, itemized as rsync does (o, g).
    os.chown(by_tunnel / "a", 0, 0)
    os.chown(by_tunnel / "sub" / "link", 0, 0, follow_symlinks=False)
    again = sync("-i", *sides)
    lines = again.stdout.decode(errors="surrogateescape").splitlines()
    assert ".f....og... a" in lines and ".L....og... sub/link -> b" in lines, lines
    assert owners(by_tunnel) == owners(by_rsync)


@pytest.mark.parametrize("slash", [True, False], ids=["content", "folder"])
def test_a_pull_gives_the_tree_rsync_gives_and_then_only_the_changes(tmp_path, slash):
    source = tmp_path / "src"
    make_source(source)
    by_rsync, by_tunnel = tmp_path / "by-rsync", tmp_path / "by-tunnel"
    suffix = "/" if slash else ""
    rsync(f"{source}{suffix}", str(by_rsync))
    result = sync(f":{source}{suffix}", str(by_tunnel))
    assert result.returncode == 0, result.stderr
    assert snapshot(by_tunnel) == snapshot(by_rsync)
    again = sync("-i", f":{source}{suffix}", str(by_tunnel))
    assert again.returncode == 0 and again.stdout == b"", again.stdout
    (source / "a").write_text("changed")
    (source / "sub" / "link").unlink()
    (source / "sub" / "link").symlink_to("deeper")
    os.chmod(source / "sub" / "deeper" / "c", 0o700)
    age(source, base=1_700_000_000_000_000_000)
    prefix = "" if slash else "src/"
    changed = sync("-i", f":{source}{suffix}", str(by_tunnel))
    assert changed.returncode == 0, changed.stderr
    lines = changed.stdout.decode(errors="surrogateescape").splitlines()
    assert any(line.startswith(">f.st") and line.endswith(f" {prefix}a") for line in lines), lines
    assert any(line.startswith(">f..tp") and line.endswith(f" {prefix}sub/deeper/c") for line in lines), lines
    assert f"cL+++++++++ {prefix}sub/link -> deeper" in lines, lines
    rsync(f"{source}{suffix}", str(by_rsync))
    assert snapshot(by_tunnel) == snapshot(by_rsync)


@pytest.mark.parametrize("slash", [True, False], ids=["content", "folder"])
def test_a_pull_dry_run_changes_nothing_and_says_what_a_real_one_does(tmp_path, slash):
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    suffix = "/" if slash else ""
    dry = sync("-n", "-i", "--delete", f":{source}{suffix}", str(dest))
    assert dry.returncode == 0, dry.stderr
    assert not dest.exists()
    prefix = "" if slash else "src/"
    assert f">f+++++++++ {prefix}a" in dry.stdout.decode(errors="surrogateescape").splitlines(), dry.stdout
    # Something to change, to keep and to delete: -n touches none of it.
    assert sync(f":{source}{suffix}", str(dest)).returncode == 0
    inside = dest if slash else dest / "src"
    (inside / "extra-folder" / "inside").mkdir(parents=True)
    (inside / "extra").write_text("x")
    os.chmod(inside / "sub" / "deeper" / "c", 0o777)
    os.utime(inside / "sub" / "link", ns=(1_000_000_000_000_000_000,) * 2, follow_symlinks=False)
    (source / "a").write_text("changed")
    (source / "new").write_text("new")
    (source / "sub" / "link").unlink()
    (source / "sub" / "link").symlink_to("deeper")
    age(source, base=1_700_000_000_000_000_000)
    before = snapshot(dest)
    dry = sync("-n", "-i", "--delete", f":{source}{suffix}", str(dest))
    assert dry.returncode == 0, dry.stderr
    assert snapshot(dest) == before
    real = sync("-i", "--delete", f":{source}{suffix}", str(dest))
    assert real.returncode == 0, real.stderr
    assert sorted(dry.stdout.decode(errors="surrogateescape").splitlines()) == sorted(real.stdout.decode(errors="surrogateescape").splitlines())
    assert len(real.stdout.decode(errors="surrogateescape").splitlines()) >= 5, real.stdout
    by_rsync = tmp_path / "by-rsync"
    rsync("--delete", f"{source}{suffix}", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_a_pull_replaces_a_local_file_or_symlink_where_the_source_has_a_folder(tmp_path):
    """As rsync: the file and the symlink (to a folder outside, never entered) are removed
    for the source's folders; -n says so and changes nothing."""
    source = tmp_path / "src"
    make_source(source)
    outside = tmp_path / "outside"
    outside.mkdir()
    by_rsync, by_tunnel = tmp_path / "by-rsync", tmp_path / "by-tunnel"
    for dest in (by_rsync, by_tunnel):
        dest.mkdir()
        (dest / "sub").write_text("a file where the source has a folder")
        (dest / "empty").symlink_to(outside)
    before = snapshot(by_tunnel)
    dry = sync("-n", "-i", f":{source}/", str(by_tunnel))
    assert dry.returncode == 0, dry.stderr
    assert snapshot(by_tunnel) == before
    rsync(f"{source}/", str(by_rsync))
    result = sync("-i", f":{source}/", str(by_tunnel))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode(errors="surrogateescape").splitlines()
    assert "cd+++++++++ sub/" in lines and "cd+++++++++ empty/" in lines, lines
    assert sorted(dry.stdout.decode(errors="surrogateescape").splitlines()) == sorted(lines)
    assert snapshot(by_tunnel) == snapshot(by_rsync)
    assert os.listdir(outside) == []


def test_a_pull_with_checksum_finds_a_change_the_quick_check_misses(tmp_path):
    """As the push's: same size, same mtime, other bytes are found only by --checksum; a
    file whose bytes match but whose mtime differs only gets its time."""
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    assert sync(f":{source}/", str(dest)).returncode == 0
    (dest / "sub" / "deeper" / "c").write_text("C")   # same size
    os.utime(dest / "sub" / "deeper" / "c", ns=(os.lstat(source / "sub" / "deeper" / "c").st_mtime_ns,) * 2)
    os.utime(dest / "a", ns=(1_000_000_000_000_000_000,) * 2)
    quick = sync("-i", f":{source}/", str(dest))
    assert (dest / "sub" / "deeper" / "c").read_text() == "C", "the quick check, as rsync's, cannot see it"
    assert quick.stdout.decode(errors="surrogateescape").splitlines() == [">f..t...... a"], quick.stdout
    os.utime(dest / "a", ns=(1_000_000_000_000_000_000,) * 2)
    checked = sync("-i", "--checksum", f":{source}/", str(dest))
    assert checked.returncode == 0, checked.stderr
    assert sorted(checked.stdout.decode(errors="surrogateescape").splitlines()) == [".f..t...... a", ">fc........ sub/deeper/c"]
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)
    again = sync("-i", "--checksum", f":{source}/", str(dest))
    assert again.returncode == 0 and again.stdout == b"", again.stdout


def test_a_pull_with_delete_and_exclude_gives_what_rsync_gives(tmp_path):
    source = tmp_path / "src"
    make_source(source)
    (source / "skip.log").write_text("skipped")
    by_rsync, by_tunnel = tmp_path / "by-rsync", tmp_path / "by-tunnel"
    for dest in (by_rsync, by_tunnel):
        (dest / "extra-folder" / "inside").mkdir(parents=True)
        (dest / "extra-folder" / "inside" / "f").write_text("f")
        (dest / "sub").mkdir()
        (dest / "sub" / "extra").write_text("x")
        (dest / "sub" / "kept.log").write_text("kept")
        os.utime(dest / "sub" / "kept.log", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
        os.symlink("/", dest / "sub" / "extra-link")
    rsync("--delete", "--exclude", "*.log", f"{source}/", str(by_rsync))
    result = sync("-i", "--delete", "--exclude", "*.log", f":{source}/", str(by_tunnel))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode(errors="surrogateescape").splitlines()
    assert "*deleting   extra-folder/" in lines and "*deleting   sub/extra-link" in lines, lines
    assert (by_tunnel / "sub" / "kept.log").exists() and not (by_tunnel / "skip.log").exists()
    assert snapshot(by_tunnel) == snapshot(by_rsync)



def requests_before_the_first_answer_of_a_second_sync(tmp_path, source, dest):
    """Syncs SOURCE/ to :DEST, then again (nothing to change) through a proxy that holds the
    agent's answers back: how many requests the client wrote before the first answer."""
    from test_trees import holding_proxy
    assert sync(f"{source}/", f":{dest}").returncode == 0
    via, record = holding_proxy(tmp_path, 10)
    result = subprocess.run([str(TUNNEL), "--via", via, "sync", "-i", f"{source}/", f":{dest}"], capture_output=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout == b"", result
    return int(record.read_text())


def test_checksum_finds_a_change_the_quick_check_misses(tmp_path):
    """Same size, same mtime, other bytes: the quick check leaves it, as rsync's does;
    --checksum sends it, and a file whose bytes match but mtime differs only gets its time."""
    source = tmp_path / "src"
    make_source(source)
    dest = tmp_path / "dest"
    assert sync(f"{source}/", f":{dest}").returncode == 0
    (dest / "sub" / "deeper" / "c").write_text("C")   # same size
    os.utime(dest / "sub" / "deeper" / "c", ns=(os.lstat(source / "sub" / "deeper" / "c").st_mtime_ns,) * 2)
    os.utime(dest / "a", ns=(1_000_000_000_000_000_000,) * 2)
    quick = sync("-i", f"{source}/", f":{dest}")
    assert (dest / "sub" / "deeper" / "c").read_text() == "C", "the quick check, as rsync's, cannot see it"
    assert quick.stdout.decode(errors="surrogateescape").splitlines() == ["<f..t...... a"], quick.stdout
    os.utime(dest / "a", ns=(1_000_000_000_000_000_000,) * 2)
    checked = sync("-i", "--checksum", f"{source}/", f":{dest}")
    assert checked.returncode == 0, checked.stderr
    assert sorted(checked.stdout.decode(errors="surrogateescape").splitlines()) == [".f..t...... a", "<fc........ sub/deeper/c"]
    by_rsync = tmp_path / "by-rsync"
    rsync(f"{source}/", str(by_rsync))
    assert snapshot(dest) == snapshot(by_rsync)


def test_a_push_asks_for_folder_listings_ahead(tmp_path):
    """Nothing to change in 20 folders: their listings are asked for before the first is
    answered (a proxy holds the answers back), not one round trip each."""
    source = tmp_path / "src"
    for index in range(20):
        (source / f"pipelined-mark-{index:03}").mkdir(parents=True)
        (source / f"pipelined-mark-{index:03}" / "f").write_text(str(index))
    dest = tmp_path / "dest"
    assert requests_before_the_first_answer_of_a_second_sync(tmp_path, source, dest) >= 10, \
        "each listing waited for the one before"


def test_a_push_reads_existing_link_targets_ahead(tmp_path):
    """Nothing to change in 20 symlinks: their remote targets (each read to compare it with
    the local one) are asked for before the first is answered, not one round trip each."""
    source = tmp_path / "src"
    source.mkdir()
    for index in range(20):
        (source / f"pipelined-mark-{index:03}").symlink_to(f"target-{index}")
    dest = tmp_path / "dest"
    assert requests_before_the_first_answer_of_a_second_sync(tmp_path, source, dest) >= 10, \
        "each link's target waited for the one before"
    assert snapshot(dest) == snapshot(source)


ROUNDS_PROXY = '''
import os, select, subprocess, sys
# Answers are held until the client has sent nothing for a while (it is waiting for one),
# then all released at once: each release is one round trip the client waited for.
agent = subprocess.Popen([{agent!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
held, rounds = b"", 0
inputs = [0, agent.stdout.fileno()]
while inputs:
    ready, _, _ = select.select(inputs, [], [], 0.3)
    if not ready and held:
        os.write(1, held); held = b""; rounds += 1
        continue
    for fd in ready:
        chunk = os.read(fd, 65536)
        if fd == 0:
            if not chunk:
                agent.stdin.close(); inputs.remove(0)
                continue
            agent.stdin.write(chunk); agent.stdin.flush()
        else:
            if not chunk:
                inputs.remove(fd)
            held += chunk
if held:
    os.write(1, held); rounds += 1
open({record!r}, "w").write(str(rounds))
sys.exit(agent.wait())
'''


def round_trips_of_a_quiet_push(tmp_path, source, dest):
    """`sync -i SRC/ :DEST` through ROUNDS_PROXY, which must itemize nothing: how many
    times the client waited for an answer."""
    record, proxy = tmp_path / "rounds", tmp_path / "proxy.py"
    proxy.write_text(ROUNDS_PROXY.format(agent=str(AGENT), record=str(record)))
    result = subprocess.run([str(TUNNEL), "--via", f"{sys.executable} {proxy}", "sync", "-i", f"{source}/", f":{dest}"],
                            capture_output=True, timeout=120)
    assert result.returncode == 0 and result.stdout == b"", result
    return int(record.read_text())


def test_a_push_asks_listings_ahead_across_levels(tmp_path):
    """Nothing to change in 6 folders that each hold a folder holding a folder: once a
    listing is in, its subfolders' listings are asked too, before the walk reaches them, so
    going one level deeper does not wait for a listing each time. A proxy releases the
    agent's answers only when the client has gone quiet, and counts the releases: one per
    level and a few more, not one per folder that holds folders (2 + 6 × 2 = 14 before)."""
    source = tmp_path / "src"
    for index in range(6):
        (source / f"d{index}" / "sub" / "deeper").mkdir(parents=True)
        (source / f"d{index}" / "sub" / "deeper" / "f").write_text(str(index))
        (source / f"d{index}" / "g").write_text(str(index))
    dest = tmp_path / "dest"
    assert sync(f"{source}/", f":{dest}").returncode == 0
    rounds = round_trips_of_a_quiet_push(tmp_path, source, dest)
    assert rounds <= 8, f"{rounds} round trips"
    assert snapshot(dest) == snapshot(source)


def test_folders_only_dest_has_do_not_stop_the_push_asking_ahead(tmp_path):
    """Listings asked ahead include folders only DEST has (a listing tells no local kinds).
    They were never dropped: a tree of them below one folder (50 folders of 5 of 3) filled
    the bound on listings held (128), and from then on no listing was asked ahead (each
    folder waited for its own: 239 round trips here) while the queue of listings to expand
    grew with the tree. Counted as in the test above."""
    source = tmp_path / "src"
    for index in range(200):
        (source / f"e{index:04}" / "s").mkdir(parents=True)
        (source / f"e{index:04}" / "f").write_text(str(index))
    dest = tmp_path / "dest"
    assert sync(f"{source}/", f":{dest}").returncode == 0
    for index in range(50):   # only DEST has them; no --delete
        for middle in range(5):
            for low in range(3):
                (dest / "e0001" / f"x{index:03}" / f"y{middle}" / f"z{low}").mkdir(parents=True)
    when = (source / "e0001").stat()
    os.utime(dest / "e0001", ns=(when.st_atime_ns, when.st_mtime_ns))   # nothing else to change
    rounds = round_trips_of_a_quiet_push(tmp_path, source, dest)
    # 239 before; a few more than a clean DEST's after, while the listings asked below
    # e0001 are held until its walk ends and drops them.
    assert rounds <= 40, f"{rounds} round trips"

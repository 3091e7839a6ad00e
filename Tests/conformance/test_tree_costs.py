"""What the client's tree engines cost per entry (issue 22, docs/performance.md's trees/sync
causes), counted in system calls and requests: a push looks up each owner and group name once
per run, not once per entry; it stats each local entry once; a pull's temporary names take
two getrandom calls, not one per letter, and guarding them against signals takes no
rt_sigprocmask per file; a pull has at most 8 folder listings in flight, not a window's worth.
Counts, not times: they hold on a loaded machine too."""
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from harness import AGENT
from test_cli import TUNNEL, tunnel

pytestmark = [pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first"),
              pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (setup.sh test installs it)")]

FOLDERS, FILES = 4, 25   # 100 files: a per-file cost shows as 100 calls, a per-run one as a few


def make_tree(root):
    for folder in range(FOLDERS):
        (root / f"d{folder}").mkdir(parents=True)
        for index in range(FILES):
            (root / f"d{folder}" / f"f{index}").write_text(f"{folder}/{index}")
    (root / "d0" / "link").symlink_to("f0")


def traced_sync(tmp_path, source, dest):
    """The client's own system calls (not the agent's: no -f) during `tunnel sync`."""
    trace = tmp_path / "trace"
    result = subprocess.run(["strace", "-qq", "-o", str(trace), str(TUNNEL), "--via", str(AGENT), "sync", source, dest],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return trace.read_text(errors="replace").splitlines()


def calls(lines):
    return Counter(re.match(r"(\w+)\(", line).group(1) for line in lines if re.match(r"\w+\(", line))


@pytest.mark.skipif(os.geteuid() != 0, reason="owners and groups are sent only to a root receiver: run as root")
def test_a_push_looks_up_owner_and_group_names_once_per_run(tmp_path):
    make_tree(tmp_path / "src")
    (tmp_path / "dest").mkdir()
    lines = traced_sync(tmp_path, f"{tmp_path}/src/", f":{tmp_path}/dest")
    for database in ("/etc/passwd", "/etc/group"):
        opened = [line for line in lines if line.startswith("open") and f'"{database}"' in line]
        assert len(opened) <= 1, f"{database} opened {len(opened)} times for {FOLDERS * FILES} files"
    assert (tmp_path / "dest" / "d3" / f"f{FILES - 1}").read_text() == f"3/{FILES - 1}"


def test_a_push_stats_each_local_entry_once(tmp_path):
    make_tree(tmp_path / "src")
    (tmp_path / "dest" / "d1").mkdir(parents=True)   # one folder both sides have: asked ahead
    lines = traced_sync(tmp_path, f"{tmp_path}/src/", f":{tmp_path}/dest")
    stat_calls = [line for line in lines if re.match(r"(new)?f?statx?(at)?\(|lstat\(", line)]
    for entry in ["d0", "d1", "d0/link", "d0/f0", "d1/f0", "d3/f7"]:
        path = f'"{tmp_path}/src/{entry}"'
        assert sum(path in line for line in stat_calls) == 1, entry
    assert (tmp_path / "dest" / "d0" / "link").readlink() == (tmp_path / "src" / "d0" / "link").readlink()


def test_a_pull_costs_no_signal_masking_and_two_random_draws_per_file(tmp_path):
    make_tree(tmp_path / "src")
    lines = traced_sync(tmp_path, f":{tmp_path}/src/", str(tmp_path / "dest"))
    counted = calls(lines)
    files = FOLDERS * FILES
    assert counted["getrandom"] <= 2 * files + 8, counted["getrandom"]
    assert counted["rt_sigprocmask"] < files, counted["rt_sigprocmask"]
    assert (tmp_path / "dest" / "d2" / "f3").read_text() == "2/3"
    assert not list((tmp_path / "dest").rglob(".tunnel-*")), "no temporary is left"


def test_an_initial_pull_keeps_few_folder_listings_in_flight(tmp_path):
    """Each listing's answer puts all its folder's entries in the queue: 20 folders' listings
    are not all asked before the first is answered (a proxy holds the answers back)."""
    from test_trees import holding_proxy
    source = tmp_path / "src"
    for index in range(20):
        (source / f"pipelined-mark-{index:03}").mkdir(parents=True)
        (source / f"pipelined-mark-{index:03}" / "f").write_text(str(index))
    via, record = holding_proxy(tmp_path, 20)
    result = tunnel("--via", via, "download", "-r", str(source), str(tmp_path / "back"))
    assert result.returncode == 0, result.stderr
    assert 2 <= int(record.read_text()) <= 8, "listings in flight before the first answer"
    assert subprocess.run(["diff", "-r", str(source), str(tmp_path / "back")]).returncode == 0


def test_a_pull_with_nothing_changed_leaves_folders_alone(tmp_path):
    """Each local folder is checked with one fstat; its owner, mode and mtime are set only
    when they differ (they used to be set on every folder, three calls that changed nothing:
    docs/performance.md, "tunnel sync's CPU")."""
    make_tree(tmp_path / "src")
    (tmp_path / "src" / "d2").chmod(0o750)
    first = subprocess.run([str(TUNNEL), "--via", str(AGENT), "sync", f":{tmp_path}/src/", f"{tmp_path}/dest"],
                           capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    counts = calls(traced_sync(tmp_path, f":{tmp_path}/src/", f"{tmp_path}/dest"))
    assert counts["fchown"] + counts["fchmod"] + counts["utimensat"] == 0, counts
    # A folder whose mode or mtime did change gets it back, and only that one.
    (tmp_path / "dest" / "d2").chmod(0o700)
    os.utime(tmp_path / "dest" / "d1", (0, 0))
    counts = calls(traced_sync(tmp_path, f":{tmp_path}/src/", f"{tmp_path}/dest"))
    assert counts["fchmod"] == 1 and counts["utimensat"] == 1, counts
    for name in ("d1", "d2"):
        ours, theirs = (tmp_path / "dest" / name).stat(), (tmp_path / "src" / name).stat()
        assert (ours.st_mode, ours.st_mtime_ns) == (theirs.st_mode, theirs.st_mtime_ns)


def test_a_push_starts_with_few_round_trips(tmp_path):
    """The client writes only when it is about to wait for an answer, so its writes count its
    round trips. Pinning the root lstats each of its names: those StatPaths, and the
    ResolveUser that decides whether owners are sent, go out together, and the root's own
    status is the last of them, not asked again. A push of an empty folder onto an existing
    empty one, four names deep: Hello, that batch, the root's listing, then Exit (it was 10
    writes: a StatPath per name, ResolveUser and the root's StatPath each waited alone)."""
    (tmp_path / "src").mkdir()
    dest = tmp_path / "a" / "b" / "c" / "dest"
    dest.mkdir(parents=True)
    os.chmod(dest, (tmp_path / "src").stat().st_mode & 0o7777)
    os.utime(dest, ns=((tmp_path / "src").stat().st_atime_ns, (tmp_path / "src").stat().st_mtime_ns))   # nothing to change
    lines = traced_sync(tmp_path, f"{tmp_path}/src/", f":{dest}")
    writes = [line for line in lines if line.startswith("write(")]
    assert len(writes) <= 4, "\n".join(writes)


def test_pinning_a_root_through_long_link_targets_asks_a_bounded_number_of_lstats(tmp_path):
    """The lstats that pin a tree's root are asked ahead, but at most a window's worth: a
    symlink's target puts its names in line and all of them were asked again after each
    link, so a target's chain of 6 links to 300 names each cost 6,309 lstats (and the client
    memory growing as (links × names)²: gigabytes at 40 links of 2,000 names); one by one
    it would be one per name reached. Counted in the agent's system calls."""
    chain = tmp_path / "chain"
    chain.mkdir()
    for index in range(1, 7):
        following = f"l{index + 1}" if index < 6 else "missing"
        (chain / f"l{index}").symlink_to(following + "/y" * 300)
    trace = tmp_path / "agent-trace"
    result = subprocess.run([str(TUNNEL), "--via", f"strace -f -qq -o {trace} {AGENT}", "download", "-r",
                             f"{chain}/l1/z", str(tmp_path / "out")],
                            capture_output=True, timeout=120)
    assert result.returncode == 1 and b"No such file or directory" in result.stderr, result
    lstats = [line for line in trace.read_text(errors="replace").splitlines()
              if re.search(r"\b(lstat|newfstatat|statx)\(", line) and str(chain) in line]
    assert len(lstats) < 1000, f"{len(lstats)} lstats below {chain}"

"""What the agent's tree requests cost per entry (issue 22, docs/performance.md "What was
fixed: the agent's CPU"), counted in the agent's own system calls under strace: listings
read /etc/passwd and /etc/group once per session, not once per folder; reading a file maps
no memory of its own; a listing opens no DIR and grows no new page. Counts, not times: they
hold on a loaded machine too."""
import re
import shutil
from collections import Counter

import pytest

import extensions as x
from fora.connectors import tunnel_dispatcher as td
from harness import AGENT, encode
from test_extensions import Agent

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed (setup.sh test installs it)")

FOLDERS, FILES = 20, 5


class TracedAgent(Agent):
    """The agent under `strace -f`: its system calls, once the session has ended."""

    def __init__(self, trace):
        self.trace = trace
        super().__init__(["strace", "-f", "-qq", "-o", str(trace), str(AGENT)])

    def calls(self):
        status, stderr = self.close()
        assert status == 0, stderr
        return self.trace.read_text(errors="replace").splitlines()


@pytest.fixture
def traced(tmp_path):
    session = TracedAgent(tmp_path / "trace")
    yield session
    if session.process.poll() is None:
        session.process.kill()
        session.process.wait()


def make_tree(root):
    for folder in range(FOLDERS):
        (root / f"d{folder}").mkdir(parents=True)
        for index in range(FILES):
            (root / f"d{folder}" / f"f{index}").write_text(f"{folder}/{index}")


def opened(lines, path):
    return [line for line in lines if re.search(rf'\bopen(at)?\(.*"{re.escape(path)}"', line)]


def syscall_counts(lines):
    return Counter(match.group(1) for line in lines if (match := re.match(r"\d+ +(\w+)\(", line)))


def test_listings_read_the_account_files_once_per_session(traced, tmp_path):
    """ReadBeneath only reads: the owner-name cache outlives it, as it outlives StatPath
    and Hello (before, every listing with status reopened both files)."""
    make_tree(tmp_path / "src")
    root = str(tmp_path / "src").encode()
    name, _ = traced.ask(x.hello())
    assert name == "HelloResult"
    for folder in range(FOLDERS):
        name, fields = traced.ask(x.read_beneath(root, f"d{folder}".encode(), with_status=True))
        assert name == "DirEntries" and fields["last"], (name, fields)
        assert len(fields["entries"]) == FILES
        assert all(status["owner"] and status["group"] for _, _, status in fields["entries"])
        # Other requests that only read, in between, keep the names too.
        assert traced.ask(x.stat_path(root + f"/d{folder}/f0".encode()))[0] == "StatResult"
    lines = traced.calls()
    for database in ("/etc/passwd", "/etc/group"):
        assert len(opened(lines, database)) <= 1, f"{database} opened {len(opened(lines, database))} times " \
                                                  f"for {FOLDERS} listings"


def test_a_request_that_changes_the_host_still_drops_the_names(traced, tmp_path):
    """The other half of the rule: after a request that may have changed the accounts (here
    a MakeDir), the next listing looks the names up again."""
    make_tree(tmp_path / "src")
    root = str(tmp_path / "src").encode()
    assert traced.ask(x.read_beneath(root, b"d0", with_status=True))[0] == "DirEntries"
    assert traced.ask(x.make_dir(str(tmp_path / "made").encode())) == ("Ok", {})
    assert traced.ask(x.read_beneath(root, b"d1", with_status=True))[0] == "DirEntries"
    assert len(opened(traced.calls(), "/etc/passwd")) == 2


def test_reading_files_maps_no_memory_per_file(traced, tmp_path):
    """A tree pull reads thousands of small files: each one's content goes into the
    session's one spool, whose memory stays mapped (before, every file cost a 256 KiB
    buffer and a fresh spool: an mmap and a munmap each, and the page faults of new pages).
    Sizes from empty to 300 KiB, in an order that makes the spool shrink and grow; each
    answer must hold its own file's bytes, not what a larger one before it left behind."""
    folder = tmp_path / "files"
    folder.mkdir()
    sizes = [0, 1, 300 << 10, 5, 4096, 4097, 70000, 3, 256 << 10, 12, 1 << 20] + [100 * i for i in range(40)]
    for index, size in enumerate(sizes):
        (folder / f"f{index}").write_bytes(bytes((index + offset) % 251 for offset in range(size)))
    root = str(folder).encode()
    for index, size in enumerate(sizes):
        name, fields = traced.ask(x.read_beneath(root, f"f{index}".encode()))
        assert name == "DownloadResult", (name, fields)
        assert fields["content"] == (folder / f"f{index}").read_bytes(), f"f{index} ({size} bytes)"
    # And through Download, the original request, which shares the code.
    assert traced.ask(encode(td.PacketDownload(file=str(folder / "f2"))))[1]["content"] == (folder / "f2").read_bytes()
    counted = syscall_counts(traced.calls())
    # The session's own buffers, the spool's growth, the 1 MiB file's last read: a handful,
    # whatever the number of files (51 here).
    assert counted["mmap"] + counted["mremap"] <= 12, (counted["mmap"], counted["mremap"])
    assert counted["munmap"] <= 8, counted["munmap"]


def test_a_listing_reads_its_folder_without_a_directory_stream(traced, tmp_path):
    """Each listing reads its folder with getdents64 from the descriptor it opened, into the
    session's one buffer: no dup, fcntl, fstat or allocation of a DIR per folder (before,
    opendir cost ~8 system calls per folder), and a folder of 300 entries takes one read plus
    the one that sees its end."""
    folders = 40
    for folder in range(folders):
        (tmp_path / "src" / f"d{folder}").mkdir(parents=True)
        for index in range(300 if folder == 0 else 3):
            (tmp_path / "src" / f"d{folder}" / f"f{index:03}").write_bytes(b"")
    root = str(tmp_path / "src").encode()
    for folder in range(folders):
        names = []
        while True:
            name, fields = traced.ask(x.read_beneath(root, f"d{folder}".encode()))
            assert name == "DirEntries", (name, fields)
            names += [entry[0] for entry in fields["entries"]]
            if fields["last"]:
                break
        assert sorted(names) == sorted(path.name.encode() for path in (tmp_path / "src" / f"d{folder}").iterdir())
    counted = syscall_counts(traced.calls())
    # The agent's start's, and the growth of the big folder's answer: not per folder.
    assert counted["fcntl"] <= 8, counted["fcntl"]
    assert counted["mmap"] < folders // 2, counted["mmap"]
    assert counted["getdents64"] == 2 * folders, counted["getdents64"]


def test_listing_big_folders_again_does_not_grow_a_new_page(traced, tmp_path):
    """The page of entries being answered keeps its capacity from one listing to the next:
    listing a folder of 300 entries ten times grows it once (before, each listing grew a
    new array by doubling, and musl mapped 8, 16, 32 and 60 KiB for it each time). The
    entries' names still come and go in pages of 4 KiB; those are not counted."""
    folder = tmp_path / "big"
    folder.mkdir()
    for index in range(300):
        (folder / f"entry-{index:03}").write_bytes(b"")
    for _ in range(10):
        name, fields = traced.ask(x.list_dir(str(folder).encode(), with_status=True))
        assert name == "DirEntries" and fields["last"] and len(fields["entries"]) == 300, (name, len(fields["entries"]))
    maps = [int(match.group(1)) for line in traced.calls() if (match := re.search(r" mmap\(NULL, (\d+),", line))]
    larger = [size for size in maps if size > 4096]
    # The session's three buffers, the group file's reading, the page's growth (4): once each.
    assert len(larger) <= 12, larger

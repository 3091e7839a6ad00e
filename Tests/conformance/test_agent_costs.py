"""What the agent's tree requests cost per entry (issue 22, docs/performance.md "The agent's
CPU"), counted in the agent's own system calls under strace: ReadBeneath listings read
/etc/passwd and /etc/group once per session, not once per folder. Counts, not times: they
hold on a loaded machine too."""
import re
import shutil
from collections import Counter

import pytest

import extensions as x
from harness import AGENT
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

"""The agent's file system extensions where the host is unusual: trees deeper than any stack,
and a root that holds nothing but the agent (no /proc). Issue 20 item 9, issue 21 item 4."""
import io
import os
import resource
import subprocess

import pytest

import extensions as x
from harness import AGENT

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

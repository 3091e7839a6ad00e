"""What tunnel prints of what a target sends (issue 20): numbers no real file has, and names
that are not UTF-8. Whatever a hostile agent answers, tunnel may print odd values or fail
with a message, never crash; into a pipe, names pass as the bytes they are."""
import os
import resource
import subprocess

import pytest

from test_cli import TUNNEL, tunnel
from test_client_trust import fake, listing_under_a_memory_limit

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def test_ls_l_shows_the_permission_bits_of_a_mode_wider_than_32_bits():
    """StatResult's mode is a u64: a target may set bits no mode_t holds. ls -l shows the
    permission bits (st_mode & 0o7777) instead of trapping on the conversion."""
    result = tunnel("--via", fake("wide-mode"), "ls", "-l", "/t")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("drwxr-xr-x ") and lines[0].endswith(" d"), lines
    assert lines[1].startswith("-rwsr-xr-x ") and lines[1].endswith(" f"), lines


def test_chmod_r_computes_modes_from_the_permission_bits_of_a_wide_mode():
    """chmod -R g+w applies the change to each listed mode: a mode wider than 32 bits from
    the target is read as its permission bits, not a crash."""
    result = tunnel("--via", fake("wide-mode"), "chmod", "-R", "g+w", "/t")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("scenario", ["fewer-numbers", "more-numbers"])
def test_ls_l_never_gives_a_name_numbers_from_an_answer_of_the_wrong_length(scenario):
    """A StatNumbersResult with one entry per path asked is believed; one too few or too many
    could shift every link count onto another name, so none is shown: '?', as ls shows what
    it cannot read."""
    result = tunnel("--via", fake(scenario), "ls", "-l", "/t")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line.split()[1] for line in lines] == ["?", "?"], lines


def test_ls_l_reads_no_more_numbers_than_it_asked_for(tmp_path):
    """A StatNumbersResult that claims 16 million entries for 2 paths is refused at its
    count, before any is read: the client never holds more numbers than it asked for (under
    an address-space limit, which holding them outgrows). The listing is still printed."""
    limit = 384 << 20
    result = subprocess.run([str(TUNNEL), "--via", fake("endless-numbers"), "ls", "-l", "/t"],
                            capture_output=True, timeout=120,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert result.returncode >= 0, result
    lines = result.stdout.decode().splitlines()
    assert [line.split()[1] for line in lines] == ["?", "?"], result


def test_sync_i_lines_carry_a_names_bytes_into_a_pipe(tmp_path):
    """-i's lines name entries as ls does: into a pipe, the bytes as they are (a name that
    is not UTF-8 is not turned into U+FFFD), so a script can act on the line."""
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    (source / os.fsdecode(b"caf\xe9")).write_bytes(b"x")
    (source / os.fsdecode(b"link\xff")).symlink_to(os.fsdecode(b"to\xfe"))
    result = tunnel("sync", "-i", f"{source}/", f":{dest}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith(b" caf\xe9") for line in lines), lines
    assert any(line.endswith(b" link\xff -> to\xfe") for line in lines), lines


@pytest.mark.parametrize("command", [["ls", "-l", "/t"], ["download", "-r", "/t"]], ids=["ListDir", "ReadBeneath"])
def test_a_listings_digests_count_against_its_byte_cap(tmp_path, command):
    """A status in a listing may carry a digest (up to 1 KiB per page's caps), which no real
    agent sends there: its bytes count against the listing's 64 MiB like names, or a target
    could make the client hold a million of them (a GiB) under the entry cap. Under an
    address-space limit, as test_client_trust's endless listing."""
    listing_under_a_memory_limit("endless-digests", command, tmp_path)

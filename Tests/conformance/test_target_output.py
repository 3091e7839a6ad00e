"""What tunnel prints of what a target sends (issue 20): numbers no real file has. Whatever
a hostile agent answers, tunnel may print odd values or fail with a message, never crash."""
import pytest

from test_cli import TUNNEL, tunnel
from test_client_trust import fake

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


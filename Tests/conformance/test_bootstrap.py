"""The bootstrap against other local users on the target (issue 20, item 1), on a real sshd.

An attacker here is a second ordinary account (OTHER) that plants or holds the folders the
bootstrap might use: the shared fallbacks in /tmp and /dev/shm, or a folder under a parent it
can rename entries in. Its objects are made by root and chowned to it, which is exactly what
it could make itself. The bootstrap must never run, or `sudo -n`, an agent from a folder it
cannot show is private (owned by the account, mode 700, not a symlink, every folder above it
owned by root or the account and writable by no one else unless sticky).

Accounts and the jail are these tests' own (not test_launch.py's), so that the two files can
run at the same time. Root only (accounts, chroot, sshd): they skip with the reason elsewhere."""
import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from local_sshd import available as sshd_available, local_sshd
from test_launch import AGENTS, TUNNEL, build_chroot, dash_as_sh, ensure_account, sha256, tunnel

VICTIM = "tunnel-victim"      # the account tunnel logs in as
OTHER = "tunnel-other"        # another local user on the same target
JAILED = "tunnel-jailed"      # an account jailed in a busybox-only chroot
JAIL = Path("/srv/tunnel-bootstrap-jail")

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


@pytest.fixture(scope="module")
def sshd():
    if not sshd_available():
        pytest.skip("needs root (accounts, chroot) and openssh-server")
    for name in (VICTIM, OTHER, JAILED):
        ensure_account(name, f"/home/{name}")
    build_chroot(JAIL, JAILED)
    with local_sshd(f"Match User {JAILED}\n    ChrootDirectory {JAIL}\n") as server:
        yield server
    shutil.rmtree(JAIL, ignore_errors=True)


def uid_of(name):
    return pwd.getpwnam(name).pw_uid


def shared_folders(root=Path("/"), user=VICTIM):
    """The predictable fallbacks: /tmp/tunnel-dispatcher-UID and /dev/shm/tunnel-dispatcher-UID."""
    return [root / "tmp" / f"tunnel-dispatcher-{uid_of(user)}", root / "dev/shm" / f"tunnel-dispatcher-{uid_of(user)}"]


def fresh_folders(root=Path("/"), user=VICTIM):
    return [path for parent in (root / "tmp", root / "dev/shm") for path in parent.glob(f"tunnel-dispatcher-{uid_of(user)}.*")]


def remove(path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@pytest.fixture
def victim(sshd):
    """The victim's home, empty and writable; no folder of the bootstrap's anywhere."""
    home = Path(pwd.getpwnam(VICTIM).pw_dir)

    def clean():
        for path in [home, *shared_folders(), *fresh_folders(), Path("/tmp/tunnel-planted")]:
            remove(path)

    clean()
    home.mkdir(mode=0o755)
    os.chown(home, uid_of(VICTIM), uid_of(VICTIM))
    yield home
    clean()


def ssh_args(server, user=VICTIM, *extra):
    options = [word for option in server.options for word in ("--ssh-option", option)]
    return ["--ssh", f"{user}@127.0.0.1:{server.port}", *options, "-v", *extra]


def ping(server, user=VICTIM, *extra):
    return tunnel(*ssh_args(server, user, *extra), "ping")


def started_from(result):
    """Where the agent ran from, as `tunnel -v` reports it."""
    line = next(line for line in result.stderr.decode().splitlines() if " agent: " in line)
    return Path(line.split(" agent: ", 1)[1])


def plant(folder, content, owner=OTHER, mode=0o755, name=None):
    """A folder owned by `owner`, holding `content` under the agent's cache name."""
    folder.mkdir(mode=mode)
    os.chmod(folder, mode)
    copy = folder / (name or sha256(AGENTS["x86_64"]))
    copy.write_bytes(content)
    copy.chmod(0o755)
    for path in (folder, copy):
        os.chown(path, uid_of(owner), uid_of(owner), follow_symlinks=False)
    return copy


def read_only_home(home):
    os.chown(home, 0, 0)   # the account can no longer write its home: /tmp is next


# ---------------------------------------------------------------------------------------
# Planted folders


@pytest.mark.parametrize("sudo", [False, True], ids=["plain", "sudo"])
def test_a_planted_shared_folder_is_not_run_from(sshd, victim, sudo):
    """Another user made /tmp/tunnel-dispatcher-UID first and put the genuine agent in it,
    so that any hash check passes; it can swap the file at any time (it owns the folder)."""
    read_only_home(victim)
    trap = shared_folders()[0]
    planted = plant(trap, AGENTS["x86_64"].read_bytes())
    sudoers = Path(f"/etc/sudoers.d/{VICTIM}")
    if sudo:
        sudoers.write_text(f"{VICTIM} ALL=(root) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
    try:
        result = ping(sshd, VICTIM, *(["--sudo"] if sudo else []))
    finally:
        sudoers.unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    assert trap not in started_from(result).parents, result.stderr
    assert sorted(os.listdir(trap)) == [planted.name] and planted.stat().st_uid == uid_of(OTHER)


RACER = """
import os, sys
folder, genuine, planted, name = sys.argv[1:5]
target = os.path.join(folder, name)
while not os.path.exists(os.path.join(folder, "stop")):
    for source in (genuine, planted):
        staged = target + ".staged"
        try:
            os.link(source, staged)
            os.rename(staged, target)
        except OSError:
            pass
"""


def test_a_copy_swapped_while_the_bootstrap_runs_never_runs(sshd, victim):
    """The other user, as a real process of its own, keeps swapping the genuine agent and its
    own program under the cached name in the folder it made first: whatever a check saw, the
    name may hold the other one a moment later."""
    read_only_home(victim)
    trap = shared_folders()[0]
    plant(trap, AGENTS["x86_64"].read_bytes(), name="genuine")
    marker = Path("/tmp/tunnel-planted-ran")
    marker.unlink(missing_ok=True)
    plant_program = trap / "planted"
    plant_program.write_text(f"#!/bin/sh\nid -u >> {marker}\nexec {trap}/genuine \"$@\"\n")
    plant_program.chmod(0o755)
    os.chown(plant_program, uid_of(OTHER), uid_of(OTHER))
    other = pwd.getpwnam(OTHER)
    racer = subprocess.Popen(["setpriv", f"--reuid={other.pw_uid}", f"--regid={other.pw_gid}", "--clear-groups",
                              sys.executable, "-c", RACER, str(trap), str(trap / "genuine"), str(plant_program),
                              sha256(AGENTS["x86_64"])])
    try:
        results = [ping(sshd) for _ in range(8)]
    finally:
        (trap / "stop").touch()
        racer.wait(timeout=30)
    try:
        assert not marker.exists(), "the other user's program ran as uid " + marker.read_text()
        assert all(result.returncode == 0 for result in results), [result.stderr for result in results]
        assert all(trap not in started_from(result).parents for result in results)
    finally:
        marker.unlink(missing_ok=True)


def test_a_symlink_in_place_of_the_shared_folder_is_not_followed(sshd, victim):
    read_only_home(victim)
    elsewhere = Path("/tmp/tunnel-planted")
    plant(elsewhere, AGENTS["x86_64"].read_bytes())
    trap = shared_folders()[0]
    trap.symlink_to(elsewhere)
    os.chown(trap, uid_of(OTHER), uid_of(OTHER), follow_symlinks=False)
    result = ping(sshd)
    assert result.returncode == 0, result.stderr
    where = started_from(result)
    assert elsewhere not in where.resolve().parents and trap not in where.parents, result.stderr
    assert os.listdir(elsewhere) == [sha256(AGENTS["x86_64"])]


def test_a_folder_under_a_parent_others_can_rename_in_is_not_used(sshd, victim):
    """The account's own cache, mode 700 and holding the genuine agent, but in a ~/.cache that
    everyone may write (no sticky bit): anyone can rename it away and put theirs there."""
    cache = victim / ".cache"
    cache.mkdir()
    os.chown(cache, uid_of(VICTIM), uid_of(VICTIM))
    cache.chmod(0o777)
    plant(cache / "tunnel-dispatcher", AGENTS["x86_64"].read_bytes(), owner=VICTIM, mode=0o700)
    result = ping(sshd)
    assert result.returncode == 0, result.stderr
    assert cache not in started_from(result).parents, result.stderr
    # Sticky, it is safe again: only the account may rename what it owns there.
    cache.chmod(0o1777)
    again = ping(sshd)
    assert again.returncode == 0 and b"sending" not in again.stderr, again.stderr
    assert started_from(again) == cache / "tunnel-dispatcher" / sha256(AGENTS["x86_64"])


def test_every_predictable_folder_taken_means_a_fresh_private_one(sshd, victim):
    read_only_home(victim)
    for folder in shared_folders():
        folder.mkdir(mode=0o777)
        os.chown(folder, uid_of(OTHER), uid_of(OTHER))
    first = ping(sshd)
    assert first.returncode == 0, first.stderr
    where = started_from(first).parent
    assert where.parent in (Path("/tmp"), Path("/dev/shm")) and where.name.startswith(f"tunnel-dispatcher-{uid_of(VICTIM)}.")
    info = where.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid_of(VICTIM), 0o700)
    assert b"fresh private folder" in first.stderr, first.stderr
    # The next start finds that folder again instead of sending the agent once more.
    second = ping(sshd)
    assert second.returncode == 0 and b"sending" not in second.stderr, second.stderr
    assert started_from(second).parent == where
    for folder in shared_folders():
        assert os.listdir(folder) == []


def test_a_cache_mounted_noexec_since_is_left_for_the_next_folder(sshd, victim):
    """A cached copy is not run to check it; one that cannot run where it is ([ -x ] on a
    noexec mount) is passed over, on the first start after the change."""
    cache = victim / ".cache"
    cache.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"uid={uid_of(VICTIM)},mode=700", "tmpfs", str(cache)], check=True)
    try:
        assert ping(sshd).returncode == 0
        subprocess.run(["mount", "-o", "remount,noexec", str(cache)], check=True)
        again = ping(sshd)
        assert again.returncode == 0, again.stderr
        assert started_from(again).parent == shared_folders()[0]
    finally:
        subprocess.run(["umount", str(cache)], check=True)


# ---------------------------------------------------------------------------------------
# A busybox-only jail without sha256sum, wc or mktemp: nothing to hash or size a file with


@pytest.fixture
def jail(sshd):
    """The jail, its sh dash (busybox's sh would find its own applets without their links)."""
    home = JAIL / "home" / JAILED
    removed = []
    with dash_as_sh(JAIL):
        for tool in ("sha256sum", "wc", "mktemp"):
            (JAIL / "bin" / tool).unlink()
            removed.append(JAIL / "bin" / tool)
        try:
            yield home
        finally:
            for tool in removed:
                tool.symlink_to("busybox")
    for path in [*home.iterdir(), *shared_folders(JAIL, JAILED), *fresh_folders(JAIL, JAILED)]:
        remove(path)


def test_without_hash_tools_a_planted_program_does_not_run_as_the_account(sshd, jail):
    marker = JAIL / "tmp" / "planted-program-ran"
    script = f"#!/bin/sh\nid -u > /tmp/{marker.name}\nexec /home/{JAILED}/.real-agent \"$@\"\n"
    shutil.copy(AGENTS["x86_64"], jail / ".real-agent")
    plant(shared_folders(JAIL, JAILED)[0], script.encode())
    try:
        result = ping(sshd, JAILED)
        assert not marker.exists(), "the planted program ran as " + marker.read_text()
        assert result.returncode == 0, result.stderr
        assert started_from(result).parent == Path(f"/home/{JAILED}/.cache/tunnel-dispatcher")
    finally:
        marker.unlink(missing_ok=True)


def test_without_mktemp_a_fresh_folder_is_made_with_sh_alone(sshd, jail):
    os.chown(jail, 0, 0)
    try:
        for folder in shared_folders(JAIL, JAILED):
            folder.mkdir(mode=0o777)
            os.chown(folder, uid_of(OTHER), uid_of(OTHER))
        result = ping(sshd, JAILED)
        assert result.returncode == 0, result.stderr
        where = JAIL / str(started_from(result).parent).lstrip("/")
        assert where.name.startswith(f"tunnel-dispatcher-{uid_of(JAILED)}.")
        assert (where.stat().st_uid, stat.S_IMODE(where.stat().st_mode)) == (uid_of(JAILED), 0o700)
    finally:
        os.chown(jail, uid_of(JAILED), uid_of(JAILED))

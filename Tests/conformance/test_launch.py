"""Launch (issue 10): `tunnel --ssh` and `--docker` bootstrap the agent over one connection.

Real components, started here: Debian's sshd on 127.0.0.1 with accounts of these tests' own
(one with sudo, one whose ChrootDirectory holds only busybox-static), and podman containers.
Root only: they skip with the reason elsewhere."""
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from harness import ROOT, processes_with, wait_until
from local_sshd import available as sshd_available, local_sshd

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))
DIST = ROOT / "dist"
AGENTS = {"x86_64": DIST / "tunnel-dispatcher", "aarch64": DIST / "tunnel-dispatcher-aarch64"}
USER = "tunnel-boot"          # an ordinary account with a home
CHROOTED = "tunnel-chroot"    # an account jailed in a folder that holds only busybox
CHROOT = Path("/srv/tunnel-test-chroot")   # every component root-owned, as sshd demands

pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tunnel(*args, stdin=b"", timeout=60):
    env = dict(os.environ, TUNNEL_AGENT_DIR=str(DIST))
    return subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, env=env, timeout=timeout)


def public_folder():
    """A folder the test accounts can enter (pytest's tmp_path is root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="tunnel-launch-"))
    folder.chmod(0o755)
    return folder


def ensure_account(name, home, shell="/bin/sh"):
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-M", "-d", home, "-s", shell, name], check=True)
        # No password, but not locked ("!"), which sshd would refuse even with a key.
        subprocess.run(["usermod", "-p", "*", name], check=True)
    subprocess.run(["usermod", "-s", shell, name], check=True)
    return pwd.getpwnam(name)


def build_chroot(root=CHROOT, account=CHROOTED):
    """busybox-static and its applets, /dev/null, /tmp and a home: no Python, no coreutils."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin/busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "dev").mkdir()
    (root / "dev/shm").mkdir(mode=0o1777)
    os.chmod(root / "dev/shm", 0o1777)
    subprocess.run(["mknod", "-m", "666", str(root / "dev/null"), "c", "1", "3"], check=True)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "etc").mkdir()
    entry = pwd.getpwnam(account)
    (root / "etc/passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\n{account}:x:{entry.pw_uid}:{entry.pw_gid}::/home/{account}:/bin/sh\n")
    (root / "etc/group").write_text(f"root:x:0:\n{account}:x:{entry.pw_gid}:\n")
    home = root / "home" / account
    home.mkdir(parents=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="module")
def sshd():
    if not sshd_available():
        pytest.skip("needs root (accounts, mounts) and openssh-server")
    ensure_account(USER, f"/home/{USER}")
    ensure_account(CHROOTED, f"/home/{CHROOTED}")
    build_chroot()
    with local_sshd(f"Match User {CHROOTED}\n    ChrootDirectory {CHROOT}\n") as server:
        yield server
    shutil.rmtree(CHROOT, ignore_errors=True)


@pytest.fixture
def account(sshd):
    """The ordinary account's home, empty, and no cached agent anywhere."""
    entry = pwd.getpwnam(USER)
    home = Path(entry.pw_dir)

    def clean():
        subprocess.run(["usermod", "-s", "/bin/sh", USER], check=True)
        for folder in (home, f"/tmp/tunnel-dispatcher-{entry.pw_uid}", f"/dev/shm/tunnel-dispatcher-{entry.pw_uid}"):
            shutil.rmtree(folder, ignore_errors=True)

    clean()
    home.mkdir(mode=0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    yield home
    clean()


def ssh_args(server, user=USER, *extra):
    options = [word for option in server.options for word in ("--ssh-option", option)]
    return ["--ssh", f"{user}@127.0.0.1:{server.port}", *options, *extra]


def ping(server, user=USER, *extra):
    return tunnel(*ssh_args(server, user, "-v", *extra), "ping")


def cache_of(home):
    return home / ".cache" / "tunnel-dispatcher"


def files_in(folder):
    return sorted(path.name for path in Path(folder).rglob("*") if not path.is_dir()) if Path(folder).exists() else []


# ---------------------------------------------------------------------------------------
# Over ssh, as an ordinary account


@pytest.mark.parametrize("shell", ["/bin/dash", "/bin/bash", "busybox ash"])
def test_first_start_sends_the_agent_then_the_cache_is_used(sshd, account, shell):
    if shell == "busybox ash":
        # busybox picks the applet by its name: a link called ash.
        folder = public_folder()
        (folder / "ash").symlink_to("/bin/busybox")
        shell = str(folder / "ash")
    subprocess.run(["usermod", "-s", shell, USER], check=True)
    first = ping(sshd)
    assert (first.returncode, first.stdout) == (0, b"ok\n"), first.stderr
    assert b"sending the x86_64 agent (%d bytes" % AGENTS["x86_64"].stat().st_size in first.stderr
    assert files_in(cache_of(account)) == [sha256(AGENTS["x86_64"])]
    second = ping(sshd)
    assert second.returncode == 0 and b"sending" not in second.stderr, second.stderr
    assert b"starting the cached x86_64 agent: " + bytes(cache_of(account)) in second.stderr
    who = tunnel(*ssh_args(sshd), "run", "--", "id", "-un")
    assert who.stdout == USER.encode() + b"\n"


def test_a_damaged_cached_copy_is_replaced(sshd, account):
    """Damaged: cut short (its size), or no longer a program. The cache is private, so a
    start checks only that: no hash, no trial run (docs/security.md)."""
    assert ping(sshd).returncode == 0
    cached = cache_of(account) / sha256(AGENTS["x86_64"])
    cached.write_bytes(cached.read_bytes()[:-1000])
    again = ping(sshd)
    assert again.returncode == 0 and b"sending the x86_64 agent" in again.stderr, again.stderr
    assert sha256(cached) == cached.name and files_in(cache_of(account)) == [cached.name]
    cached.chmod(0o600)
    again = ping(sshd)
    assert again.returncode == 0 and b"sending the x86_64 agent" in again.stderr, again.stderr
    assert sha256(cached) == cached.name and files_in(cache_of(account)) == [cached.name]


def test_a_read_only_home_falls_back_to_a_private_folder_in_tmp(sshd, account):
    os.chown(account, 0, 0)   # the account can no longer write its home
    result = ping(sshd)
    assert result.returncode == 0, result.stderr
    uid = pwd.getpwnam(USER).pw_uid
    shared = Path(f"/tmp/tunnel-dispatcher-{uid}")
    assert b"agent: " + bytes(shared) in result.stderr
    assert shared.stat().st_uid == uid and shared.stat().st_mode & 0o777 == 0o700
    assert not (account / ".cache").exists()


def test_a_shared_folder_someone_else_owns_is_refused(sshd, account):
    """Another user who made /tmp/tunnel-dispatcher-UID first does not get the agent run."""
    os.chown(account, 0, 0)
    uid = pwd.getpwnam(USER).pw_uid
    trap = Path(f"/tmp/tunnel-dispatcher-{uid}")
    trap.mkdir(mode=0o777)
    try:
        result = ping(sshd)
        assert b"/tmp/tunnel-dispatcher-%d/" % uid not in result.stderr
        assert files_in(trap) == []
    finally:
        shutil.rmtree(trap)


def test_a_noexec_cache_falls_back_and_keeps_nothing_there(sshd, account):
    cache = account / ".cache"
    cache.mkdir()
    uid = pwd.getpwnam(USER).pw_uid
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"noexec,uid={uid},mode=700", "tmpfs", str(cache)], check=True)
    try:
        result = ping(sshd)
        assert result.returncode == 0, result.stderr
        assert b"agent: /tmp/tunnel-dispatcher-%d/" % uid in result.stderr
        assert files_in(cache) == []
    finally:
        subprocess.run(["umount", str(cache)], check=True)


def test_two_bootstraps_at_once(sshd, account):
    results = [None, None]

    def start(index):
        results[index] = ping(sshd)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [result.returncode for result in results] == [0, 0], [result.stderr for result in results]
    assert files_in(cache_of(account)) == [sha256(AGENTS["x86_64"])]


def test_sudo_runs_the_agent_as_root_from_the_accounts_cache(sshd, account):
    sudoers = Path(f"/etc/sudoers.d/{USER}")
    sudoers.write_text(f"{USER} ALL=(root) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    try:
        result = tunnel(*ssh_args(sshd, USER, "--sudo"), "run", "--", "id", "-u")
        assert (result.returncode, result.stdout) == (0, b"0\n"), result.stderr
        cached = cache_of(account) / sha256(AGENTS["x86_64"])
        assert cached.stat().st_uid == pwd.getpwnam(USER).pw_uid
    finally:
        sudoers.unlink()


def test_sudo_asking_for_a_password_fails_clearly_and_leaves_nothing(sshd, account):
    result = tunnel(*ssh_args(sshd, USER, "--sudo"), "ping")
    assert result.returncode == 255
    assert b"sudo -n asks tunnel-boot for a password" in result.stderr, result.stderr
    assert not (account / ".cache").exists()


def test_ssh_that_cannot_connect_passes_on_its_message(sshd):
    closed = sshd.port + 1 if sshd.port < 65535 else sshd.port - 1
    result = tunnel("--ssh", f"{USER}@127.0.0.1:{closed}", "--ssh-option", "BatchMode=yes", "ping")
    assert result.returncode == 255
    assert b"Connection refused" in result.stderr, result.stderr
    assert b"ssh could not reach" in result.stderr and b"status 255" in result.stderr


def test_a_shell_that_prints_at_startup_is_named(sshd, account):
    folder = public_folder()
    chatty = folder / "chatty-sh"
    chatty.write_text('#!/bin/sh\necho "Welcome to web1"\nexec /bin/sh "$@"\n')
    chatty.chmod(0o755)
    subprocess.run(["usermod", "-s", str(chatty), USER], check=True)
    result = ping(sshd)
    assert result.returncode == 255
    assert b'printed text before the agent started: "Welcome to web1"' in result.stderr, result.stderr
    assert b"startup files print text" in result.stderr


def test_a_tcsh_login_runs_the_bootstrap_under_sh_and_leaves_nothing_behind(sshd, account):
    """csh runs a multi-line command line one line at a time: the first line sends it to /bin/sh
    (CshLogin.swift), before it meets the snippet's quoted lines (70 errors and a folder `2`)."""
    if not os.path.exists("/bin/tcsh"):
        pytest.skip("needs tcsh (scripts/setup.sh test installs it)")
    subprocess.run(["usermod", "-s", "/bin/tcsh", USER], check=True)
    for attempt in ("sends the agent", "uses the cache"):
        result = ping(sshd)
        assert (result.returncode, result.stdout) == (0, b"ok\n"), (attempt, result.stderr)
        # Only tunnel's own -v lines: no csh complaint, no stray output.
        assert all(line.startswith(b"tunnel: ") for line in result.stderr.splitlines()), result.stderr
        assert b"the login shell is csh" in result.stderr
        assert sorted(path.name for path in account.iterdir()) == [".cache"], attempt
        assert files_in(cache_of(account)) == [sha256(AGENTS["x86_64"])]
    who = tunnel(*ssh_args(sshd), "run", "--", "id", "-un")
    assert who.stdout == USER.encode() + b"\n", who.stderr


# ---------------------------------------------------------------------------------------
# A jail that holds only busybox: no Python, no coreutils


@pytest.fixture
def jail(sshd):
    home = CHROOT / "home" / CHROOTED
    yield home
    for leftover in home.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def test_a_chroot_with_only_busybox(sshd, jail):
    assert not any((CHROOT / "bin" / name).exists() for name in ("python3", "python"))
    first = ping(sshd, CHROOTED)
    assert first.returncode == 0 and b"sending the x86_64 agent" in first.stderr, first.stderr
    second = ping(sshd, CHROOTED)
    assert second.returncode == 0 and b"starting the cached" in second.stderr
    listing = tunnel(*ssh_args(sshd, CHROOTED), "run", "--", "ls", f"/home/{CHROOTED}/.cache/tunnel-dispatcher")
    assert listing.stdout == sha256(AGENTS["x86_64"]).encode() + b"\n", listing


def test_nowhere_to_run_fails_and_leaves_nothing_behind(sshd, jail):
    """Every candidate (the cache, $TMPDIR=/tmp, /dev/shm) on a noexec mount."""
    uid = pwd.getpwnam(CHROOTED).pw_uid
    mounts = [jail, CHROOT / "tmp", CHROOT / "dev/shm"]
    for folder, options in zip(mounts, [f"uid={uid},mode=755", "mode=1777", "mode=1777"]):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec," + options, "tmpfs", str(folder)], check=True)
    try:
        result = ping(sshd, CHROOTED)
        assert result.returncode == 255
        assert b"no folder where the agent can be stored and run" in result.stderr, result.stderr
        for folder in mounts:
            assert list(folder.iterdir()) == [], folder
    finally:
        for folder in mounts:
            subprocess.run(["umount", str(folder)], check=True)


BINFMT = Path("/proc/sys/fs/binfmt_misc")


@pytest.fixture
def aarch64_jail(jail):
    """`uname -m` says aarch64 in the jail, and the kernel runs aarch64 programs through
    qemu-aarch64-static (binfmt_misc, with the F flag so that it works inside the chroot)."""
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None or not AGENTS["aarch64"].exists():
        pytest.skip("needs qemu-user-static and dist/tunnel-dispatcher-aarch64 (make aarch64)")
    mounted = not (BINFMT / "register").exists()
    if mounted:
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    registered = not (BINFMT / "qemu-aarch64").exists()
    if registered:
        magic = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
        mask = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
        (BINFMT / "register").write_text(f":qemu-aarch64:M::{magic}:{mask}:{qemu}:F")
    with machine_named("aarch64"):
        try:
            yield jail
        finally:
            if registered:
                (BINFMT / "qemu-aarch64").write_text("-1")
            if mounted:
                subprocess.run(["umount", str(BINFMT)], check=True)


@contextlib.contextmanager
def machine_named(name, root=CHROOT):
    """`uname -m` prints `name` in the jail (a script found on PATH: see dash_as_sh)."""
    uname = root / "bin/uname"
    with dash_as_sh(root):
        uname.unlink()
        uname.write_text(f"#!/bin/sh\necho {name}\n")
        uname.chmod(0o755)
        try:
            yield
        finally:
            uname.unlink()
            uname.symlink_to("busybox")


@contextlib.contextmanager
def dash_as_sh(root=CHROOT):
    """/bin/sh in the jail becomes dash (with its libraries) meanwhile: busybox's sh runs its
    own applets whatever PATH holds, dash finds (or misses) the programs PATH has."""
    copied = []
    for line in subprocess.run(["ldd", "/bin/dash"], capture_output=True, text=True).stdout.splitlines():
        library = next((word for word in line.split() if word.startswith("/")), None)
        if library and not (root / library.lstrip("/")).exists():
            (root / library.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(library, root / library.lstrip("/"))
            copied.append(root / library.lstrip("/"))
    shell = root / "bin/sh"
    shell.unlink()
    shutil.copy("/bin/dash", shell)
    try:
        yield
    finally:
        shell.unlink()
        shell.symlink_to("busybox")
        for library in copied:
            library.unlink()


def test_an_aarch64_target_gets_the_aarch64_agent(sshd, aarch64_jail):
    result = ping(sshd, CHROOTED)
    assert result.returncode == 0, result.stderr
    assert b"sending the aarch64 agent (%d bytes" % AGENTS["aarch64"].stat().st_size in result.stderr
    cached = aarch64_jail / ".cache/tunnel-dispatcher" / sha256(AGENTS["aarch64"])
    assert cached.exists()
    # That agent, under qemu, serves requests.
    assert tunnel(*ssh_args(sshd, CHROOTED), "run", "--", "echo", "hi").stdout == b"hi\n"


def test_a_machine_without_an_agent_is_named(sshd, jail):
    with machine_named("mips64"):
        result = ping(sshd, CHROOTED)
    assert result.returncode == 255
    assert b"no agent for this machine (uname -m: mips64)" in result.stderr, result.stderr
    assert list(jail.iterdir()) == []


# ---------------------------------------------------------------------------------------
# docker exec, with podman (see ../shared/spec/containers.md for the recipe)

ENGINE = shutil.which("podman")


@pytest.fixture(scope="module")
def podman():
    """Podman with a configuration of these tests' own (runc, cgroupfs, ulimits this sandbox
    allows), and two images: busybox alone, and the agent alone (a distroless stand-in)."""
    if ENGINE is None:
        pytest.skip("needs podman and runc (scripts/setup.sh test installs them)")
    folder = Path(tempfile.mkdtemp(prefix="tunnel-podman-"))
    (folder / "containers.conf").write_text(
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]\n')
    os.environ["CONTAINERS_CONF"] = str(folder / "containers.conf")
    images = {"busybox": folder / "busybox", "agent-only": folder / "agent-only"}
    (images["busybox"] / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", images["busybox"] / "bin/busybox")
    for applet in ("sh", "uname", "head", "mkdir", "chmod", "mv", "rm", "rmdir", "id", "sha256sum", "wc", "cat"):
        (images["busybox"] / "bin" / applet).symlink_to("busybox")
    for name, mode in (("tmp", 0o1777), ("root", 0o700)):
        (images["busybox"] / name).mkdir()
        os.chmod(images["busybox"] / name, mode)
    images["agent-only"].mkdir()
    shutil.copy(AGENTS["x86_64"], images["agent-only"] / "tunnel-dispatcher")
    started = []
    try:
        for name, root in images.items():
            subprocess.run(f"tar -C {root} -cf {folder}/{name}.tar . && {ENGINE} import -q {folder}/{name}.tar "
                           f"localhost/tunnel-{name}:test", shell=True, check=True, capture_output=True)
            # The busybox container runs as an ordinary user, as hardened images do.
            command = ["--user", "1000:1000", f"localhost/tunnel-{name}:test", "/bin/sh", "-c", "sleep 600"] \
                if name == "busybox" else [f"localhost/tunnel-{name}:test", "/tunnel-dispatcher"]
            box = f"tunnel-test-{name}-{os.getpid()}"
            run = subprocess.run([ENGINE, "run", "-d", "-i", "--name", box, "--network", "none", *command],
                                 capture_output=True)
            if run.returncode != 0:
                pytest.skip(f"podman cannot start a container here: {run.stderr.decode().strip()}")
            started.append(box)
        yield dict(zip(images, started))
    finally:
        for box in started:
            subprocess.run([ENGINE, "rm", "-f", "-t", "0", box], capture_output=True)
        for name in images:
            subprocess.run([ENGINE, "rmi", "-f", f"localhost/tunnel-{name}:test"], capture_output=True)
        del os.environ["CONTAINERS_CONF"]
        shutil.rmtree(folder)


def test_docker_exec_route_with_podman(podman):
    box = podman["busybox"]
    first = tunnel("--docker", box, "--engine", "podman", "-v", "ping")
    assert (first.returncode, first.stdout) == (0, b"ok\n"), first.stderr
    # No /etc/passwd in this image: HOME is /, which uid 1000 cannot write.
    assert b"sending the x86_64 agent" in first.stderr and b"agent: /tmp/tunnel-dispatcher-1000/" in first.stderr
    env = dict(os.environ, TUNNEL_ENGINE="podman", TUNNEL_AGENT_DIR=str(DIST))
    second = subprocess.run([str(TUNNEL), "-v", "--docker", box, "run", "--", "id", "-u"],
                            capture_output=True, env=env, timeout=60)
    assert (second.returncode, second.stdout) == (0, b"1000\n"), second.stderr
    assert b"starting the cached" in second.stderr
    root = tunnel("--docker", box, "--engine", "podman", "--sudo", "run", "--", "id", "-u")
    assert (root.returncode, root.stdout) == (0, b"0\n"), root.stderr


def test_a_container_without_a_shell_is_named(podman):
    result = tunnel("--docker", podman["agent-only"], "--engine", "podman", "ping")
    assert result.returncode == 255
    assert b"has no sh to run the bootstrap: copy the agent in and use --via" in result.stderr, result.stderr
    # As the message says: the agent is there, --via reaches it.
    via = tunnel("--via", f"podman exec -i {podman['agent-only']} /tunnel-dispatcher", "ping")
    assert (via.returncode, via.stdout) == (0, b"ok\n"), via.stderr


def test_installer_through_docker_exec(podman, tmp_path):
    script = tunnel("installer")
    assert script.returncode == 0 and script.stdout.startswith(b"#!/bin/sh\n"), script.stderr
    box = podman["busybox"]
    installed = subprocess.run([ENGINE, "exec", "-i", box, "sh", "-s", "/tmp/td"], input=script.stdout,
                               capture_output=True, timeout=120)
    assert (installed.returncode, installed.stdout) == (0, b"/tmp/td\n"), installed.stderr
    assert tunnel("--via", f"podman exec -i {box} /tmp/td", "ping").stdout == b"ok\n"


# ---------------------------------------------------------------------------------------
# tunnel installer, with nothing but sh, uname and chmod


@pytest.mark.parametrize("shell", [["dash"], ["bash"], ["busybox", "sh"]])
def test_installer_needs_only_sh_uname_and_chmod(shell, tmp_path):
    script = tmp_path / "install.sh"
    script.write_bytes(tunnel("installer", "--arch", "x86_64").stdout)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("uname", "chmod"):
        (tools / tool).symlink_to("/bin/busybox")
    target = tmp_path / "agent"
    result = subprocess.run([shutil.which(shell[0]), *shell[1:], str(script), str(target)], capture_output=True,
                            env={"PATH": str(tools)}, timeout=120)
    assert (result.returncode, result.stdout) == (0, f"{target}\n".encode()), result.stderr
    assert target.read_bytes() == AGENTS["x86_64"].read_bytes() and os.access(target, os.X_OK)
    assert subprocess.run([str(target), "--version"], capture_output=True).returncode == 0


def test_installer_checks_what_it_wrote_and_names_a_missing_machine(tmp_path):
    script = tmp_path / "install.sh"
    script.write_bytes(tunnel("installer", "--arch", "aarch64").stdout)
    result = subprocess.run(["sh", str(script), str(tmp_path / "agent")], capture_output=True)
    assert result.returncode == 1 and b"carries no agent for x86_64" in result.stderr
    assert not (tmp_path / "agent").exists()
    # A full disk: the write fails, and it says so; a device is written through, never replaced.
    (tmp_path / "whole.sh").write_bytes(tunnel("installer").stdout)
    full = subprocess.run(["sh", str(tmp_path / "whole.sh"), "/dev/full"], capture_output=True)
    assert full.returncode == 1 and b"cannot write /dev/full" in full.stderr
    assert Path("/dev/full").is_char_device()


def test_the_client_carries_the_current_snippet():
    check = subprocess.run([os.environ.get("PYTHON", "python3"), str(ROOT / "scripts/generate-bootstrap.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_tunnel_finds_the_agents_beside_it_and_where_make_install_puts_them(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TUNNEL_AGENT_DIR"}
    beside = subprocess.run([str(TUNNEL), "installer", "--arch", "x86_64"], capture_output=True, env=environment)
    assert beside.returncode == 0 and sha256(AGENTS["x86_64"]).encode() in beside.stdout, beside.stderr
    prefix = tmp_path / "prefix"
    install = subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = subprocess.run([str(prefix / "bin/tunnel"), "installer"], capture_output=True, env=environment)
    assert installed.returncode == 0, installed.stderr
    assert all(sha256(agent).encode() in installed.stdout for agent in AGENTS.values())
    # The hashes come from the manifest make install wrote (not hashed at each start).
    manifest = (prefix / "libexec/tunnel-dispatcher/agents.sha256").read_text()
    assert all(sha256(agent) in manifest for agent in AGENTS.values())
    (prefix / "libexec/tunnel-dispatcher/tunnel-dispatcher-aarch64").unlink()
    some = subprocess.run([str(prefix / "bin/tunnel"), "installer"], capture_output=True, env=environment)
    assert some.returncode == 0 and sha256(AGENTS["aarch64"]).encode() not in some.stdout, some.stderr
    missing = subprocess.run([str(prefix / "bin/tunnel"), "installer", "--arch", "aarch64"], capture_output=True, env=environment)
    assert missing.returncode == 255 and b"no aarch64 agent" in missing.stderr


def test_a_container_holding_only_the_agent_is_managed_through_the_extensions(podman):
    """No shell, no coreutils: the agent's own file operations and RunEx do everything."""
    via = ["--via", f"podman exec -i {podman['agent-only']} /tunnel-dispatcher"]
    assert tunnel(*via, "mkdir", "-p", "/tree/a/b").returncode == 0
    assert tunnel(*via, "upload", "-", "/tree/a/b/file", stdin=b"content").returncode == 0
    assert tunnel(*via, "ls", "/tree/a").stdout == b"b\n"
    assert tunnel(*via, "mv", "/tree/a", "/tree/z").returncode == 0
    assert tunnel(*via, "chmod", "700", "/tree/z/b").returncode == 0
    listing = tunnel(*via, "ls", "-l", "/tree/z").stdout.decode()
    # No passwd in the image: owners are numbers.
    assert listing.startswith("drwx------ 2 0 0 ") and listing.endswith(" b\n")   # 2 links: b and b/.
    assert tunnel(*via, "download", "/tree/z/b/file").stdout == b"content"
    # The one program there is the agent itself: its output streams back.
    version = tunnel(*via, "run", "--", "/tunnel-dispatcher", "--version")
    assert version.returncode == 0 and version.stdout.startswith(b"tunnel-dispatcher ")
    assert tunnel(*via, "rm", "-r", "/tree").returncode == 0
    assert b"tree" not in tunnel(*via, "ls", "/").stdout.split(b"\n")   # what podman adds stays: dev, etc, proc...


def test_ctrl_c_over_real_ssh_leaves_nothing_behind(sshd, account):
    marker = f"{400 + os.getpid() % 100}.43"
    process = subprocess.Popen([str(TUNNEL), *ssh_args(sshd), "run", "--", "sh", "-c", f"echo ready; exec sleep {marker}"],
                               stdout=subprocess.PIPE, env=dict(os.environ, TUNNEL_AGENT_DIR=str(DIST)))
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 128 + 2
    assert wait_until(lambda: processes_with(marker) == []), processes_with(marker)

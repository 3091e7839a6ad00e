"""fora deploys to hosts and containers without Python (issues 10 and 25): the wheel's
`tunnel-ssh`, `tunnel-podman` and `tunnel-docker` connectors.

The wheel is built and pip-installed here; fora's own test_connection.py (from its sdist)
then runs through the connector over a real sshd, and a real `fora inventory.py deploy.py`
deploys into a chroot that holds only busybox, and into a running busybox container under
podman."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness import ROOT
from test_launch import CHROOT, CHROOTED, ENGINE, USER, account, jail, podman, sshd  # noqa: F401  (fixtures)

FORA_TESTS = ROOT / ".build" / "fora-2.1.7" / "test"
PYTHON = Path(sys.executable)


@pytest.fixture(scope="module")
def connector_site(tmp_path_factory):
    """The wheel, built from dist/ and installed with pip into a folder of its own."""
    if not all((ROOT / "dist" / f"tunnel-dispatcher-{arch}").exists() for arch in ("aarch64", "armv7", "i686", "riscv64")):
        pytest.skip("needs the five agents: make static arches")
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([str(PYTHON), str(ROOT / "scripts/build-wheel.py"), str(folder)],
                           capture_output=True, text=True, check=True)
    wheel = built.stdout.strip()
    site = Path(f"/tmp/tunnel-fora-site-{os.getpid()}")   # readable by the test accounts
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), wheel], check=True)
    os.chmod(site, 0o755)
    yield site
    shutil.rmtree(site)


def key_for(server, user):
    """A copy of the client key that `user` can read (ssh refuses a key others can read)."""
    entry = pwd.getpwnam(user)
    folder = Path(f"/tmp/tunnel-fora-key-{user}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    shutil.copy(server.key, folder / "key")
    for path in (folder, folder / "key"):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return folder / "key"


def inventory(folder, url, key, name):
    options = ["-o", f"IdentityFile={key}", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    path = folder / "inventory.py"
    path.write_text("import fora_tunnel_dispatcher  # registers tunnel-ssh\n\n"
                    f"hosts = [dict(url={url!r}, name={name!r},\n"
                    f"              vars=dict(ssh_opts={options!r}))]\n")
    return path


def run_foras_connection_tests(server, url, site):
    """fora's test_connection.py, unchanged but for the line that chose its local connector,
    against `url`; returns {test: outcome}. It compares the remote side with its own process,
    so it runs as the account ssh logs into, with the PATH sshd gives its sessions."""
    folder = Path(tempfile.mkdtemp(prefix="tunnel-fora-tests-"))
    folder.chmod(0o755)
    entry = pwd.getpwnam(USER)
    inventory(folder, url, key_for(server, USER), "localhost")
    original = (FORA_TESTS / "test_connection.py").read_text()
    assert original.count('fora.loader.load_inventory("local:")') == 1
    (folder / "test_connection.py").write_text(
        original.replace('fora.loader.load_inventory("local:")', f'fora.loader.load_inventory("{folder}/inventory.py")'))
    remote_path = subprocess.run([*server.command(USER), "printenv", "PATH"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    # The virtualenv's interpreter may sit in root's home; the system's of the same version
    # runs with the virtualenv's packages (fora, pytest) instead.
    system_python = Path("/usr/bin/python3")
    version = subprocess.run([str(system_python), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout if system_python.exists() else ""
    if version.strip() != str(sys.version_info[:2]):
        pytest.skip(f"needs /usr/bin/python3 of version {sys.version_info[:2]} to run fora's tests as {USER}")
    packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    environment = {"HOME": entry.pw_dir, "PATH": remote_path, "PYTHONPATH": f"{site}:{packages}"}
    result = subprocess.run(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
                             "--reset-env", "env", *(f"{k}={v}" for k, v in environment.items()),
                             str(system_python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "test_connection.py"],
                            cwd=folder, capture_output=True, text=True, timeout=300)
    shutil.rmtree(folder)
    outcomes = {}
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("PASSED", "FAILED", "ERROR") and "::" in words[1]:
            outcomes[words[1].split("::")[1]] = words[0]
    assert outcomes, result.stdout[-3000:] + result.stderr[-3000:]
    return outcomes


def test_foras_own_connection_tests_through_the_connector(sshd, account, connector_site):
    """The same outcomes as fora's own ssh connector (its inline Python dispatcher) over the
    same sshd: on Debian both fail the three tests that assume a group called nobody and an
    unreadable shadow entry for nobody; everything else passes."""
    if not (FORA_TESTS / "test_connection.py").exists():
        pytest.skip("needs fora's sdist: scripts/setup.sh test")
    address = f"{USER}@127.0.0.1:{sshd.port}"
    ours = run_foras_connection_tests(sshd, f"tunnel-ssh://{address}", connector_site)
    assert (account / ".cache" / "tunnel-dispatcher").exists(), "the agent did the work, not Python"
    theirs = run_foras_connection_tests(sshd, f"ssh://{address}", connector_site)
    assert ours == theirs
    assert list(ours.values()).count("PASSED") >= 45


DEPLOY = """
from fora import host
from fora.operations import files

site = "/home/{user}/site"
files.directory(path=site, mode="750")
files.directory(path=site + "/conf", mode="700")
files.upload_content(content=b"static bytes\\n", dest=site + "/static.txt", mode="640")
files.template_content(content="{{{{ greeting }}}} from {{{{ name }}}}\\n", dest=site + "/conf/app.conf",
                       context=dict(greeting="hello", name=host.name), mode="600")
host.connection.run(["sh", "-c", "uname -m > " + site + "/ran"])
"""


def test_a_real_deploy_into_a_chroot_without_python(sshd, jail, connector_site, tmp_path):
    assert not (CHROOT / "usr/bin/python3").exists() and not (CHROOT / "bin/python3").exists()
    inventory(tmp_path, f"tunnel-ssh://{CHROOTED}@127.0.0.1:{sshd.port}", key_for(sshd, "root"), "jail")
    (tmp_path / "deploy.py").write_text(DEPLOY.format(user=CHROOTED))
    fora = Path(sys.executable).parent / "fora"
    result = subprocess.run([str(fora), "inventory.py", "deploy.py"], cwd=tmp_path, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(connector_site)), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    site = jail / "site"
    uid = pwd.getpwnam(CHROOTED).pw_uid
    assert (site / "static.txt").read_bytes() == b"static bytes\n"
    assert (site / "conf/app.conf").read_text() == "hello from jail"   # jinja drops the last newline
    assert (site / "ran").read_text() == "x86_64\n"
    assert {oct(path.stat().st_mode & 0o777) for path in (site, site / "conf", site / "static.txt", site / "conf/app.conf")} \
        == {"0o750", "0o700", "0o640", "0o600"}
    assert all(path.stat().st_uid == uid for path in site.rglob("*"))
    # A second run changes nothing and starts the cached agent.
    again = subprocess.run([str(fora), "inventory.py", "deploy.py"], cwd=tmp_path, capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(connector_site)), timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]


def test_the_connector_takes_the_same_urls_and_host_variables_as_foras_ssh_connector(connector_site):
    sys.path.insert(0, str(connector_site))
    try:
        from fora_tunnel_dispatcher import TunnelSshConnector
    finally:
        sys.path.pop(0)

    class Host:
        ssh_host = "web1"
        ssh_port = 2222
        ssh_opts = ["-o", "BatchMode=yes"]

    assert TunnelSshConnector("tunnel-ssh:web1", Host()).ssh_url() == "ssh://web1"
    assert TunnelSshConnector("tunnel-ssh://deploy@web1:22", Host()).ssh_url() == "ssh://deploy@web1:22"
    from_variables = TunnelSshConnector(None, Host())
    assert from_variables.ssh_url() == "ssh://web1:2222"
    command = from_variables.command()
    assert command[:4] == ["ssh", "-o", "BatchMode=yes", "ssh://web1:2222"]
    assert command[4].startswith("'sh' '-c' '") and "python" not in command[4]
    assert TunnelSshConnector.extract_hostname("tunnel-ssh://root@web1:22") == "web1"


CONTAINER_DEPLOY = """
from fora import host
from fora.operations import files

site = "/tmp/site"
files.directory(path=site, mode="750")
files.upload_content(content=b"static bytes\\n", dest=site + "/static.txt", mode="640")
host.connection.run(["sh", "-c", "id -u > " + site + "/ran"])
"""


def test_a_real_deploy_into_a_podman_container_without_python(podman, connector_site, tmp_path):
    """tunnel-podman://CONTAINER, with podman's own options as host variables: the busybox
    container runs as uid 1000; `--user 0` (podman_exec_opts) deploys as root."""
    box = podman["busybox"]
    # fora looks up the connecting user's name first (ResolveUser), as its ssh connector does,
    # and files.directory runs chown.
    prepare = ("mkdir -p /etc && echo root:x:0:0:root:/root:/bin/sh > /etc/passwd && echo root:x:0: > /etc/group"
               " && ln -s busybox /bin/chown && ln -s busybox /bin/ls")
    assert subprocess.run([ENGINE, "exec", "--user", "0", box, "sh", "-c", prepare], timeout=60).returncode == 0
    (tmp_path / "inventory.py").write_text(
        "import fora_tunnel_dispatcher  # registers tunnel-podman\n\n"
        f"hosts = [dict(url='tunnel-podman://{box}', name='box', vars=dict(podman_exec_opts=['--user', '0']))]\n")
    (tmp_path / "deploy.py").write_text(CONTAINER_DEPLOY)
    fora = Path(sys.executable).parent / "fora"
    for _ in range(2):   # the second run starts the agent the first one cached
        result = subprocess.run([str(fora), "inventory.py", "deploy.py"], cwd=tmp_path, capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=str(connector_site)), timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shown = subprocess.run([ENGINE, "exec", "--user", "0", box, "sh", "-c", "cat /tmp/site/static.txt /tmp/site/ran; "
                            "ls -ld /tmp/site /tmp/site/static.txt; ls /root/.cache/tunnel-dispatcher"],
                           capture_output=True, text=True, timeout=60)
    lines = shown.stdout.splitlines()
    assert lines[:2] == ["static bytes", "0"], shown.stdout + shown.stderr
    assert lines[2].startswith("drwxr-x---") and lines[3].startswith("-rw-r-----")
    assert len(lines) == 5, "one cached agent, sent once"


def test_the_container_connectors_take_the_engines_options_as_host_variables(connector_site):
    sys.path.insert(0, str(connector_site))
    try:
        from fora_tunnel_dispatcher import TunnelDockerConnector, TunnelPodmanConnector
    finally:
        sys.path.pop(0)

    class Host:
        docker_opts = ["--context", "prod"]
        docker_exec_opts = ["--user", "0"]

    command = TunnelDockerConnector("tunnel-docker://web", Host()).command()
    assert command[:7] == ["docker", "--context", "prod", "exec", "-i", "--user", "0"]
    assert command[7:10] == ["web", "sh", "-c"] and command[11:13] == ["tunnel-bootstrap", "0"]
    assert len(command) == 13 + 2 * 5, "a hash and a size for each of the five machines"
    assert TunnelPodmanConnector("tunnel-podman:web", object()).command()[:4] == ["podman", "exec", "-i", "web"]
    assert TunnelPodmanConnector.extract_hostname("tunnel-podman://web") == "web"
    for url in ("tunnel-podman://-e", "tunnel-podman://", "tunnel-podman://a/b"):
        with pytest.raises(ValueError):
            TunnelPodmanConnector.extract_hostname(url)

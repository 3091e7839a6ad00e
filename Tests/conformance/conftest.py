import os
import pwd
import subprocess

import pytest

from harness import AGENT, TEST_USER, Dispatcher, agent_command, as_user, reference_command


def pytest_configure(config):
    if not AGENT.exists():
        raise pytest.UsageError(f"{AGENT} is missing: run `make` first")


def test_user_exists():
    try:
        pwd.getpwnam(TEST_USER)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session", autouse=True)
def unprivileged_user():
    """Creates the unprivileged test user when we are root (CI is)."""
    if os.getuid() == 0 and not test_user_exists():
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", TEST_USER], check=True)
    return TEST_USER if test_user_exists() else None


ORPHAN_USER = "tunnel-orphan"


@pytest.fixture(scope="session", autouse=True)
def user_without_primary_group():
    """A user whose primary group does not exist (made by deleting it), when we are root."""
    if os.getuid() == 0:
        try:
            pwd.getpwnam(ORPHAN_USER)
        except KeyError:
            subprocess.run(["groupadd", ORPHAN_USER], check=True)
            subprocess.run(["useradd", "--no-create-home", "-g", ORPHAN_USER, ORPHAN_USER], check=True)
            subprocess.run(["groupdel", "-f", ORPHAN_USER], check=True)
    try:
        return pwd.getpwnam(ORPHAN_USER).pw_name
    except KeyError:
        return None


IDENTITIES = ["self", "unprivileged"]


@pytest.fixture(params=IDENTITIES)
def identity(request, unprivileged_user):
    """None: run as we are; else the name of the unprivileged user to run as."""
    if request.param == "self":
        return None
    if os.getuid() != 0 or unprivileged_user is None:
        pytest.skip("needs root to switch to the unprivileged test user")
    return unprivileged_user


@pytest.fixture
def agent():
    """The agent, started as we are; closed with Exit if still running."""
    dispatcher = Dispatcher(agent_command())
    yield dispatcher
    if dispatcher.process.poll() is None:
        dispatcher.close()


@pytest.fixture
def reference():
    """The Python reference, started alike."""
    dispatcher = Dispatcher(reference_command())
    yield dispatcher
    if dispatcher.process.poll() is None:
        dispatcher.close()


@pytest.fixture
def pair(identity):
    """The agent and the reference, started alike."""
    agent = Dispatcher(as_user(agent_command(), identity))
    reference = Dispatcher(as_user(reference_command(), identity))
    yield agent, reference
    for dispatcher in (agent, reference):
        if dispatcher.process.poll() is None:
            dispatcher.close()

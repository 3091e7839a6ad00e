"""A representative set of the protocol extensions, for the agents of the other machines:
`make test-arches` runs this file beside test_conformance.py (the 23 original packets)
against each agent under qemu-user (TUNNEL_AGENT=scripts/run-ARCH.sh). Against
dist/tunnel-dispatcher it runs as part of the whole suite, like any other file.

The tests are test_extensions.py's own, imported (pytest collects them here too), chosen for
what differs between machines: RunEx with each environment (the login environment trapped
the aarch64 agent through a bug of the Embedded Swift runtime that only AArch64's calling
convention exposed, see docs/static-build.md; both login tests failed there before the
link-time wrapper), a streamed run, the tree operations with ListDir's statuses (their
encoding lost a `!= nil` that pulled Unicode normalisation into the 32-bit agents), input and
Hello. The 1 GiB and timing-heavy tests stay on x86_64."""
import os
import pwd

import pytest

import extensions as x
from test_extensions import (  # noqa: F401 (fixtures and tests, collected here too)
    agent, test_captured_run_is_like_process_run, test_environments, test_hello_lists_the_extensions,
    test_input_and_close_input, test_list_of_a_missing_folder, test_login_environment_for_another_user,
    test_streamed_output_arrives_while_the_command_runs, test_tree_operations)


def test_login_environment_of_the_agents_own_user(agent):
    """No user given: the agent's own passwd entry (getpwuid(getuid())), HOME as the folder."""
    entry = pwd.getpwuid(os.getuid())
    name, fields = agent.ask(x.run_ex(["sh", "-c", "env; pwd"], environment=x.LOGIN_ENV))
    assert name == "RunFinished", fields
    lines = fields["stdout"].decode().splitlines()
    assert f"HOME={entry.pw_dir}" in lines and f"USER={entry.pw_name}" in lines
    assert f"LOGNAME={entry.pw_name}" in lines and f"SHELL={entry.pw_shell or '/bin/sh'}" in lines
    assert lines[-1] in (entry.pw_dir, "/")


def test_login_environment_for_a_user_without_an_entry_is_refused(agent):
    if os.getuid() != 0:
        pytest.skip("needs root: only root may run a command as another user")
    free = next(uid for uid in range(2**31 + 12345, 2**32 - 2) if not any(e.pw_uid == uid for e in pwd.getpwall()))
    name, fields = agent.ask(x.run_ex(["true"], environment=x.LOGIN_ENV, user=str(free)))
    assert (name, fields) == ("InvalidField", dict(field="user", message="The user has no passwd entry to log in with."))

"""Deliberate deviations from the reference (docs/protocol.md, "Deliberate deviations") that
no feature's own tests cover: each shows the reference's behaviour and the agent's."""
import os
import pwd
import stat

import pytest

from harness import TEST_USER, Dispatcher, agent_command, reference_command, td


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
@pytest.mark.parametrize("mode", ["4755", "2755", "6750"])
def test_upload_keeps_a_requested_set_id_bit_with_an_owner(tmp_path, mode, unprivileged_user):
    """The reference chmods, then chowns, and the chown clears the set-id bits it was just
    asked to set. The agent changes the owner first, as SetMetadata does: the mode asked for
    is the mode the file gets."""
    if unprivileged_user is None:
        pytest.skip("needs the unprivileged test user")
    modes = {}
    for side, command in (("ref", reference_command()), ("agent", agent_command())):
        target = tmp_path / side
        with Dispatcher(command) as dispatcher:
            answer = dispatcher.request(td.PacketUpload(file=str(target), content=b"#!/bin/sh\n", mode=mode,
                                                        owner=TEST_USER, group=TEST_USER))
            dispatcher.close()
        assert answer == td.PacketOk()
        info = os.stat(target)
        assert info.st_uid == pwd.getpwnam(TEST_USER).pw_uid
        modes[side] = stat.S_IMODE(info.st_mode)
    assert modes["agent"] == int(mode, 8)
    assert modes["ref"] == int(mode, 8) & 0o777, "the reference's chown cleared the set-id bits"

"""Structured refusals (issue 21): an extension request refused in a session whose Hello
asked for it is a Failure packet (id 41) carrying the step and the errno as fields; the
client decides from those, never from the message. fora's 23 packets keep the reference's
exact OSError, InvalidField and ProcessError, in every session."""
import io
import os
import subprocess
from pathlib import Path

import pytest

import extensions as x
from harness import AGENT, ROOT, encode, td

TUNNEL = Path(os.environ.get("TUNNEL_CLI", ROOT / "dist" / "tunnel"))


def answers(*packets):
    """The agent's answers to `packets`, sent at once."""
    result = subprocess.run([str(AGENT)], input=b"".join(packets), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reader = x.Reader(io.BytesIO(result.stdout))
    return [reader.answer() for _ in packets]


def test_hello_switches_extension_refusals_to_failure(tmp_path):
    taken = bytes(tmp_path)
    hello, made, run, field, chdir = answers(
        x.hello(structured_failures=True),
        x.make_dir(taken),
        x.run_ex([b"no\\such"]),
        x.make_dir(taken + b"/d", mode="9"),
        x.run_ex(["true"], cwd=taken + b"/missing"),
    )
    assert hello[0] == "HelloResult" and hello[1]["structured_failures"] and not hello[1]["durable_uploads"]
    assert made == ("Failure", dict(step=x.STEP_FILE, errno=17, subject=taken,
                                    message=f"[Errno 17] File exists: '{tmp_path}'"))
    assert run == ("Failure", dict(step=x.STEP_EXECUTE, errno=2, subject=b"no\\such",
                                   message="[Errno 2] No such file or directory: 'no\\\\such'"))
    assert field == ("Failure", dict(step=x.STEP_FIELD, errno=0, subject=b"mode",
                                     message="Invalid value '9': Must be in octal format."))
    assert chdir[0] == "Failure" and chdir[1]["step"] == x.STEP_FIELD and chdir[1]["subject"] == b"cwd"


def test_the_originals_keep_the_references_refusals_after_hello(tmp_path):
    missing = str(tmp_path / "missing")
    hello, run, stat = answers(
        x.hello(structured_failures=True),
        encode(td.PacketProcessRun(command=["no-such-program"], stdin=None, capture_output=True,
                                   user=None, group=None, umask=None, cwd=None)),
        encode(td.PacketStat(path=missing, follow_links=False, sha512sum=False)),
    )
    assert run == ("OSError", dict(errno=2, strerror="No such file or directory",
                                   msg="[Errno 2] No such file or directory: 'no-such-program'"))
    assert stat == ("InvalidField", dict(field="path", message=f"[Errno 2] No such file or directory: '{missing}'"))


def test_without_asking_the_extensions_keep_the_originals_packets(tmp_path):
    hello, made = answers(x.hello(), x.make_dir(bytes(tmp_path)))
    assert hello[1]["structured_failures"] is False
    assert made[0] == "OSError" and made[1]["errno"] == 17


@pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")
@pytest.mark.parametrize("program, status", [("no\\such", 127), ("no-such-program", 127), ("/etc/passwd", 126)])
def test_a_program_that_cannot_start_has_the_shells_status(program, status):
    """`run -- 'no\\such'` exited 1: the client matched the message against its own
    simplified repr() of the name, which differs from Python's for a backslash."""
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    result = subprocess.run([str(TUNNEL), "run", "--", program], capture_output=True, env=env, timeout=30)
    assert result.returncode == status, result.stderr
    assert result.stderr.startswith(b"tunnel: remote: '") and b"[Errno" not in result.stderr

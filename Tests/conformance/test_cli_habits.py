"""ssh and coreutils habits (issue 23): output errors, the exit table, --help at 80 columns,
messages in plain words, link switching, numeric ids, defaults like ssh.

The agent is started locally (`--via`), as in test_cli.py."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import AGENT, ROOT, processes_with
from test_cli_terminal import Terminal

TUNNEL = ROOT / "dist" / "tunnel"
pytestmark = pytest.mark.skipif(not TUNNEL.exists(), reason="run `make client` first")


def tunnel(*args, stdin=b"", **kwargs):
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    return subprocess.run([str(TUNNEL), *args], input=stdin, capture_output=True, env=env, **kwargs)


def tunnel_into(stdout, *args):
    env = dict(os.environ, TUNNEL_VIA=str(AGENT))
    return subprocess.run([str(TUNNEL), *args], stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60)


# ---------------------------------------------------------------------------------------
# Item 8: output errors, as GNU tools


OUTPUT_COMMANDS = [["ping"], ["user"], ["group"], ["getenv", "PATH"], ["stat", "/"], ["ls", "/"],
                   ["run", "--", "echo", "hi"]]


@pytest.mark.parametrize("command", OUTPUT_COMMANDS, ids=lambda c: c[0])
def test_a_full_standard_output_is_a_write_error(command):
    with open("/dev/full", "wb") as full:
        result = tunnel_into(full, *command)
    assert result.returncode == 1 and b"tunnel: write error: No space left on device" in result.stderr, result


@pytest.mark.parametrize("command", OUTPUT_COMMANDS, ids=lambda c: c[0])
def test_a_reader_that_went_away_ends_tunnel_silently(command):
    reader, writer = os.pipe()
    os.close(reader)   # every write to `writer` now fails with EPIPE
    try:
        result = tunnel_into(writer, *command)
    finally:
        os.close(writer)
    assert result.returncode == -signal.SIGPIPE and result.stderr == b"", result


def test_head_ends_a_remote_command_that_writes_forever():
    marker = f"habits-{os.getpid()}-yes"
    shell = subprocess.run(f"{TUNNEL} run -- yes {marker} | head -1", shell=True, capture_output=True,
                           env=dict(os.environ, TUNNEL_VIA=str(AGENT)), timeout=60)
    assert shell.stdout == marker.encode() + b"\n" and shell.stderr == b"", shell
    for _ in range(250):
        if not processes_with(marker):
            break
        time.sleep(0.02)
    assert processes_with(marker) == []


# ---------------------------------------------------------------------------------------
# Item 10: one exit table; item 9: messages in plain words


def test_missing_things_on_the_target_exit_1_and_say_so_plainly(tmp_path):
    user = tunnel("user", "no-such-user-here")
    assert user.returncode == 1 and b"does not exist" in user.stderr, user
    group = tunnel("group", "no-such-group-here")
    assert group.returncode == 1, group
    assert tunnel("run", "--user", "no-such-user-here", "--", "true").returncode == 1
    assert tunnel("chown", "no-such-user-here", str(tmp_path)).returncode == 1
    missing = tunnel("download", str(tmp_path / "missing"))
    assert missing.returncode == 1
    assert b"invalid value" not in missing.stderr and str(tmp_path / "missing").encode() in missing.stderr, missing
    # A malformed value is usage: 2.
    assert tunnel("chmod", "999", str(tmp_path)).returncode == 2


@pytest.mark.parametrize("mode", [[], ["--no-stream"], ["--compat"]])
def test_a_failed_switch_names_what_failed_not_python(mode):
    result = tunnel("run", *mode, "--user", "nobody", "--cwd", "/root", "--", "true")
    assert result.returncode == 1
    assert b"preexec_fn" not in result.stderr, result.stderr
    assert b"user 'nobody'" in result.stderr and b"'/root'" in result.stderr, result.stderr
    if mode != ["--compat"]:   # RunEx says why; fora's ProcessRun has no errno to give
        assert result.stderr.rstrip().endswith(b": Permission denied"), result.stderr


def test_a_switch_the_kernel_refuses_says_why():
    """"cannot switch to user root: Operation not permitted", as the issue puts it."""
    from harness import TEST_USER, as_user
    if os.getuid() != 0:
        pytest.skip("needs root to start the agent as another user")
    via = " ".join(as_user([str(AGENT)], TEST_USER))
    result = subprocess.run([str(TUNNEL), "--via", via, "run", "--user", "root", "--", "true"], capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 1, result
    assert result.stderr == b"tunnel: remote: true could not be started: the switch to user 'root' failed: " \
        b"Operation not permitted\n", result.stderr


@pytest.mark.parametrize("words", [[], ["--ssh", "web1"], ["-v", "--docker", "box"]])
def test_no_subcommand_says_so(words):
    result = subprocess.run([str(TUNNEL), *words], capture_output=True)
    assert result.returncode == 2
    assert b"missing a subcommand" in result.stderr and b"Unknown option" not in result.stderr, result.stderr


def test_the_exit_table_is_in_the_help_and_the_readme():
    shown = subprocess.run([str(TUNNEL), "--help"], capture_output=True).stdout.decode()
    readme = (ROOT / "README.md").read_text()
    for line in ["1    missing or refused on the target", "2    usage", "23   a -r transfer",
                 "255  tunnel itself failed", "run  the command's own status"]:
        assert line in shown
    for status in ["| 1 |", "| 2 |", "| 23 |", "| 255 |", "| 124 |", "| 126 |", "| 127 |", "| 128+N |"]:
        assert status in readme, status


# ---------------------------------------------------------------------------------------
# Item 11: --help readable at 80 columns, in pipes and terminals

SUBCOMMANDS = ["", "ping", "run", "shell", "stat", "upload", "download", "user", "group", "getenv", "ls", "mkdir",
               "rm", "mv", "chmod", "chown", "ln", "sync", "installer"]


def test_every_subcommand_s_help_is_checked_below():
    """A new subcommand joins SUBCOMMANDS, or its help goes unchecked (as shell's did)."""
    import re
    shown = subprocess.run([str(TUNNEL), "--help"], capture_output=True).stdout.decode()
    listed = re.findall(r"^  (\S+)  ", shown.split("SUBCOMMANDS:")[1], re.MULTILINE)
    assert sorted(listed) == sorted(s for s in SUBCOMMANDS if s), listed


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_help_has_no_line_over_80_columns(subcommand):
    argv = [str(TUNNEL), *([subcommand] if subcommand else []), "--help"]
    piped = subprocess.run(argv, capture_output=True, env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    term = Terminal(argv)
    term.wait()
    for text in (piped.stdout.decode(), term.seen.decode().replace("\r\n", "\n")):
        long_lines = [line for line in text.splitlines() if len(line) > 80]
        assert long_lines == [], long_lines


# ---------------------------------------------------------------------------------------
# Item 5: switching a `current` link atomically, as root and as an ordinary user


@pytest.fixture(params=["root", "user"])
def as_whom(request, tmp_path_factory):
    """(the --via command, a folder it may write), for the agent as root and as TEST_USER."""
    from harness import TEST_USER, as_user
    import pwd
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="tunnel-habits-"))
    if request.param == "root":
        yield [str(AGENT)], folder
    else:
        if os.getuid() != 0:
            pytest.skip("needs root to start the agent as another user")
        entry = pwd.getpwnam(TEST_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        yield as_user([str(AGENT)], TEST_USER), folder
    subprocess.run(["rm", "-rf", str(folder)])


def tunnel_as(via, *args):
    return subprocess.run([str(TUNNEL), "--via", " ".join(via), *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_ln_sfn_switches_a_link_to_a_folder(as_whom):
    via, folder = as_whom
    for version in ("v1", "v2"):
        assert tunnel_as(via, "mkdir", str(folder / version)).returncode == 0
    current = folder / "current"
    assert tunnel_as(via, "ln", "-s", str(folder / "v1"), str(current)).returncode == 0
    switched = tunnel_as(via, "ln", "-sfn", str(folder / "v2"), str(current))
    assert switched.returncode == 0, switched.stderr
    assert os.readlink(current) == str(folder / "v2")
    assert sorted(os.listdir(folder)) == ["current", "v1", "v2"]   # no temporary left, nothing inside v1
    assert os.listdir(folder / "v1") == []
    # Without -f an existing link is an error, as with GNU ln; without -n it goes inside.
    assert tunnel_as(via, "ln", "-sn", str(folder / "v1"), str(current)).returncode == 1
    assert tunnel_as(via, "ln", "-s", str(folder / "v1"), str(current)).returncode == 0
    assert os.readlink(folder / "v2" / "v1") == str(folder / "v1")


def test_ln_sf_replaces_a_file_and_enters_a_folder(as_whom):
    via, folder = as_whom
    assert tunnel_as(via, "upload", "-", str(folder / "file")).returncode == 0
    assert tunnel_as(via, "ln", "-sf", "elsewhere", str(folder / "file")).returncode == 0
    assert os.readlink(folder / "file") == "elsewhere"
    assert tunnel_as(via, "mkdir", str(folder / "dir")).returncode == 0
    # A real folder is entered even with -n, as GNU ln does: the link is dir/x.
    assert tunnel_as(via, "ln", "-sfn", "/some/x", str(folder / "dir")).returncode == 0
    assert os.readlink(folder / "dir" / "x") == "/some/x"
    assert sorted(os.listdir(folder)) == ["dir", "file"]   # no temporary name left


def test_mv_T_renames_over_a_link_to_a_folder(as_whom):
    via, folder = as_whom
    for version in ("v1", "v2"):
        assert tunnel_as(via, "mkdir", str(folder / version)).returncode == 0
    assert tunnel_as(via, "ln", "-s", str(folder / "v1"), str(folder / "current")).returncode == 0
    assert tunnel_as(via, "ln", "-s", str(folder / "v2"), str(folder / "new")).returncode == 0
    moved = tunnel_as(via, "mv", "-T", str(folder / "new"), str(folder / "current"))
    assert moved.returncode == 0, moved.stderr
    assert os.readlink(folder / "current") == str(folder / "v2")
    assert sorted(os.listdir(folder)) == ["current", "v1", "v2"] and os.listdir(folder / "v1") == []
    # Without -T, a link to a folder is the folder, as GNU mv has it.
    assert tunnel_as(via, "ln", "-s", str(folder / "v1"), str(folder / "next")).returncode == 0
    assert tunnel_as(via, "mv", str(folder / "next"), str(folder / "current")).returncode == 0
    assert os.listdir(folder / "v2") == ["next"]


def test_mv_with_several_sources(as_whom):
    via, folder = as_whom
    for name in ("a", "b"):
        assert tunnel_as(via, "upload", "-", str(folder / name)).returncode == 0
    assert tunnel_as(via, "mkdir", str(folder / "into")).returncode == 0
    not_folder = tunnel_as(via, "mv", str(folder / "a"), str(folder / "b"), str(folder / "nothere"))
    assert not_folder.returncode == 1 and b"is not a folder" in not_folder.stderr
    moved = tunnel_as(via, "mv", str(folder / "a"), str(folder / "b"), str(folder / "into"))
    assert moved.returncode == 0, moved.stderr
    assert sorted(os.listdir(folder / "into")) == ["a", "b"]


# ---------------------------------------------------------------------------------------
# Item 6: numeric ids without a passwd entry, through the extensions

UNLISTED_UID, UNLISTED_GID = 4242, 4243   # no entry in /etc/passwd or /etc/group here


def test_chown_and_run_take_ids_without_an_entry(as_whom, tmp_path):
    import grp
    import pwd
    for lookup, number in ((pwd.getpwuid, UNLISTED_UID), (grp.getgrgid, UNLISTED_GID)):
        with pytest.raises(KeyError):
            lookup(number)
    via, folder = as_whom
    assert tunnel_as(via, "upload", "-", str(folder / "f")).returncode == 0
    chown = tunnel_as(via, "chown", f"{UNLISTED_UID}:{UNLISTED_GID}", str(folder / "f"))
    run = tunnel_as(via, "run", "--user", str(UNLISTED_UID), "--group", str(UNLISTED_GID), "--", "id")
    for result in (chown, run):
        assert b"name" not in result.stderr, result.stderr
    if via == [str(AGENT)]:   # root: done
        assert chown.returncode == 0, chown.stderr
        info = os.stat(folder / "f")
        assert (info.st_uid, info.st_gid) == (UNLISTED_UID, UNLISTED_GID)
        assert run.returncode == 0 and run.stdout == f"uid={UNLISTED_UID} gid={UNLISTED_GID} groups={UNLISTED_GID}\n".encode()
        alone = tunnel_as(via, "run", "--user", str(UNLISTED_UID), "--", "id", "-g")
        assert alone.stdout == f"{UNLISTED_GID - 1}\n".encode()   # the uid's number, documented
    else:   # an ordinary user: refused by the kernel, and said so
        assert chown.returncode == 1 and b"Operation not permitted" in chown.stderr, chown.stderr
        assert run.returncode == 1, run


def test_upload_takes_owner_and_group_ids_without_an_entry(as_whom):
    """`upload --owner 4242`, as `install -o 4242` takes it: the uid's number is the group
    too unless --group says otherwise (as for runs)."""
    via, folder = as_whom
    both = subprocess.run([str(TUNNEL), "--via", " ".join(via), "upload", "--owner", str(UNLISTED_UID), "--group",
                           str(UNLISTED_GID), "--mode", "640", "-", str(folder / "both")], input=b"x\n",
                          capture_output=True, timeout=60)
    alone = subprocess.run([str(TUNNEL), "--via", " ".join(via), "upload", "--owner", str(UNLISTED_UID), "-",
                            str(folder / "alone")], input=b"y\n", capture_output=True, timeout=60)
    for result in (both, alone):
        assert b"name" not in result.stderr, result.stderr
    if via == [str(AGENT)]:   # root: done
        assert (both.returncode, alone.returncode) == (0, 0), (both.stderr, alone.stderr)
        info = os.stat(folder / "both")
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (UNLISTED_UID, UNLISTED_GID, 0o640)
        assert (folder / "both").read_bytes() == b"x\n"
        info = os.stat(folder / "alone")
        assert (info.st_uid, info.st_gid) == (UNLISTED_UID, UNLISTED_UID)
    else:   # an ordinary user: refused by the kernel, said so, and nothing left behind
        assert both.returncode == 1 and b"Operation not permitted" in both.stderr, both.stderr
        assert sorted(os.listdir(folder)) == []


def test_fora_packets_keep_the_reference_refusal_in_plain_words():
    result = tunnel("--compat", "run", "--user", str(UNLISTED_UID), "--", "true")
    assert result.returncode == 1
    assert f"no user with uid {UNLISTED_UID} on the target".encode() in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# Item 7: defaults like ssh


def test_run_forwards_stdin_by_default_and_n_turns_it_off():
    assert tunnel("run", "--", "cat", stdin=b"piped\n").stdout == b"piped\n"
    assert tunnel("run", "-n", "--", "cat", stdin=b"piped\n").stdout == b""
    assert tunnel("run", "--no-stream", "--", "cat", stdin=b"piped\n").stdout == b"piped\n"


def test_a_captured_run_does_not_wait_for_a_terminal_to_end():
    term = Terminal([str(TUNNEL), "--via", str(AGENT), "run", "--no-stream", "--", "echo", "done"])
    assert term.wait() == 0 and b"done" in term.seen, term.seen


@pytest.mark.parametrize("mask", ["022", "027"])
def test_run_uses_the_umask_the_agent_inherited(mask):
    """An ssh login's umask reaches the agent; fora's ProcessRun keeps the reference's 077."""
    shell = f"umask {mask}; exec {TUNNEL} --via {AGENT} "
    env = dict(os.environ)
    streamed = subprocess.run(shell + "run -- sh -c umask", shell=True, capture_output=True, env=env)
    assert streamed.stdout == f"0{mask}\n".encode(), streamed
    compat = subprocess.run(shell + "--compat run -- sh -c umask", shell=True, capture_output=True, env=env)
    assert compat.stdout == b"0077\n", compat


def test_run_as_another_user_gets_its_identity_variables():
    import pwd
    if os.getuid() != 0:
        pytest.skip("needs root to run as another user")
    nobody = pwd.getpwnam("nobody")
    shown = tunnel("run", "--user", "nobody", "--", "sh", "-c", 'echo "$HOME $USER $LOGNAME $SHELL"')
    assert shown.stdout.decode().split() == [nobody.pw_dir, "nobody", "nobody", nobody.pw_shell], shown
    unnamed = tunnel("run", "--user", "4242", "--", "sh", "-c", 'echo "$HOME $USER $LOGNAME $SHELL"')
    assert unnamed.stdout == b"/ 4242 4242 /bin/sh\n", unnamed
    # --env still has the last word.
    assert tunnel("run", "--user", "nobody", "--env", "HOME=/x", "--", "sh", "-c", "echo $HOME").stdout == b"/x\n"
    # Without --user, the agent's own environment, as before.
    assert tunnel("run", "--", "sh", "-c", "echo $HOME").stdout == (os.environ.get("HOME", "") + "\n").encode()


# ---------------------------------------------------------------------------------------
# Item 12: one version, from one place


def test_one_version_for_tunnel_the_agent_and_the_wheel(tmp_path):
    import re
    import runpy
    version = re.search(r'projectVersion = "([^"]+)"', (ROOT / "Sources/TunnelWire/Version.swift").read_text()).group(1)
    assert subprocess.run([str(TUNNEL), "--version"], capture_output=True).stdout == f"tunnel {version}\n".encode()
    agent = subprocess.run([str(AGENT), "--version"], capture_output=True).stdout
    assert agent.startswith(f"tunnel-dispatcher {version}".encode()), agent
    wheel = runpy.run_path(str(ROOT / "scripts/build-wheel.py"))
    assert wheel["VERSION"] == version
    init = (ROOT / "packaging/fora/fora_tunnel_dispatcher/__init__.py").read_text()
    assert f'__version__ = "{version}"' in init


def test_via_is_split_as_a_shell_splits_words(tmp_path):
    folder = tmp_path / "a folder with spaces"
    folder.mkdir()
    agent = folder / "agent's copy"
    agent.write_bytes(AGENT.read_bytes())
    agent.chmod(0o755)
    for via in (f"'{folder}/agent'\\''s copy'", f'"{agent}"', str(agent).replace(" ", "\\ ").replace("'", "\\'")):
        result = subprocess.run([str(TUNNEL), "--via", via, "ping"], capture_output=True)
        assert (result.returncode, result.stdout) == (0, b"ok\n"), (via, result.stderr)
    # Words after the program reach it as arguments, quotes removed: --debug is one.
    debug = subprocess.run([str(TUNNEL), "--via", f'"{agent}" "--debug"', "ping"], capture_output=True)
    assert debug.returncode == 0 and debug.stderr, debug
    # An open quote is a usage error, from the option or the environment alike.
    assert subprocess.run([str(TUNNEL), "--via", f"'{folder}/x", "ping"], capture_output=True).returncode == 2
    env = dict(os.environ, TUNNEL_VIA=f'"{agent}')
    opened = subprocess.run([str(TUNNEL), "ping"], capture_output=True, env=env)
    assert opened.returncode == 2 and b"open quote" in opened.stderr, opened.stderr


# ---------------------------------------------------------------------------------------
# Item 12: what an ssh or coreutils user reaches for


def test_stat_of_several_paths_shows_link_targets(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    os.symlink("f", tmp_path / "l")
    result = tunnel("stat", str(tmp_path / "l"), str(tmp_path / "missing"), str(tmp_path / "f"))
    assert result.returncode == 1 and b"missing: no such file" in result.stderr
    records = [dict(line.split("=", 1) for line in block.splitlines()) for block in result.stdout.decode().split("\n\n")]
    assert [(r["path"], r["type"], r.get("target")) for r in records] == \
        [(str(tmp_path / "l"), "link", "f"), (str(tmp_path / "f"), "file", None)]
    lines = tunnel("stat", "--json", str(tmp_path / "l"), str(tmp_path / "f")).stdout.splitlines()
    assert [json.loads(line).get("target") for line in lines] == ["f", None]
    single = tunnel("stat", str(tmp_path / "l")).stdout.decode()
    assert single.startswith("type=link\n") and single.endswith("target=f\n")   # one path: as before, plus target


@pytest.mark.parametrize("change, before, after", [
    ("u+x", 0o644, 0o744), ("go-w", 0o666, 0o644), ("a=rX", 0o600, 0o444), ("a=rX", 0o744, 0o555),
    ("g=u", 0o640, 0o660), ("u+s,+t", 0o755, 0o5755), ("o+r,g-r", 0o640, 0o604), ("=", 0o755, 0o000)])
def test_chmod_takes_symbolic_modes(tmp_path, change, before, after):
    target = tmp_path / "f"
    target.write_bytes(b"")
    target.chmod(before)
    result = tunnel("chmod", change, str(target))
    assert result.returncode == 0, result.stderr
    assert oct(os.stat(target).st_mode & 0o7777) == oct(after)


def test_chmod_rejects_a_malformed_mode(tmp_path):
    for mode in ("9", "u+q", "ug", "u+rg", "+x,"):
        assert tunnel("chmod", mode, str(tmp_path)).returncode == 2, mode


def test_chmod_R_and_chown_R_change_the_tree_and_never_follow_links(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_bytes(b"")
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    outside.chmod(0o644)
    os.symlink(outside, tree / "sub" / "link")
    result = tunnel("chmod", "-R", "go-rwx,u+X", str(tree))
    assert result.returncode == 0, result.stderr
    for path in (tree, tree / "sub", tree / "sub" / "f"):
        assert os.stat(path).st_mode & 0o077 == 0, path
    assert os.stat(outside).st_mode & 0o777 == 0o644   # the link's target is outside: untouched
    if os.getuid() == 0:
        result = tunnel("chown", "-R", "4242:4243", str(tree))
        assert result.returncode == 0, result.stderr
        for path in (tree, tree / "sub", tree / "sub" / "f"):
            assert (os.stat(path).st_uid, os.stat(path).st_gid) == (4242, 4243)
        assert os.lstat(tree / "sub" / "link").st_uid == 4242   # the link itself
        assert os.stat(outside).st_uid == 0


def test_ls_l_aligns_its_columns(tmp_path):
    (tmp_path / "small").write_bytes(b"x")
    (tmp_path / "large").write_bytes(b"x" * 12345)
    lines = tunnel("ls", "-l", str(tmp_path)).stdout.decode().splitlines()
    assert len(lines) == 2
    assert len({line.index(" 2") for line in lines}) == 1   # the dates start in one column
    assert "     1 " in lines[1] and " 12345 " in lines[0]


@pytest.mark.parametrize("destination", ["web1:99999", "web1:0", "web1:abc", "-oProxyCommand=x", "[::1]:70000"])
def test_a_bad_host_or_port_is_a_usage_error(destination):
    result = subprocess.run([str(TUNNEL), f"--ssh={destination}", "ping"], capture_output=True, timeout=60)
    assert result.returncode == 2 and b"--ssh" in result.stderr, result


def test_no_target_at_all_says_so(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}   # no tunnel-dispatcher there, no TUNNEL_VIA
    result = subprocess.run([str(TUNNEL), "ping"], capture_output=True, env=env)
    assert result.returncode == 2 and b"no target: give --ssh" in result.stderr, result.stderr
    assert b"cannot start" not in result.stderr
    # What follows -- is the remote command's, never read as tunnel's options.
    ok = tunnel("run", "--", "echo", "--ssh", "h:99999")
    assert ok.returncode == 0 and ok.stdout == b"--ssh h:99999\n", ok


@pytest.mark.parametrize("mode", [[], ["--no-stream"], ["--compat"]])
def test_a_missing_cwd_is_named(tmp_path, mode):
    result = tunnel("run", *mode, "--cwd", str(tmp_path / "gone"), "--", "true")
    assert result.returncode == 1 and str(tmp_path / "gone").encode() in result.stderr, result.stderr

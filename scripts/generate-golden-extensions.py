#!/usr/bin/env python3
"""Writes Tests/TunnelWireTests/golden/extensions.txt: the extension packets (ids 23 and
up), one line per sample, `<name> <hex bytes>`, encoded by Tests/conformance/extensions.py,
a Python encoder written from docs/protocol.md independently of the Swift codec. Commit the
output; the Swift tests compare against it in both directions. `--check` compares instead
of writing, and fails unless every extension id of the registry (PacketID.swift) has a
sample."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "conformance"))
import extensions as x  # noqa: E402
from generated_file import emit, finish, target  # noqa: E402
from packet_registry import PACKETS  # noqa: E402


def stat_fields(kind, mode, owner, group, size, mtime, ctime, digest=None):
    return (x.text(kind) + x.u64(mode) + x.text(owner) + x.text(group) + x.u64(size) + x.u64(mtime) + x.u64(ctime)
            + x.optional(digest, x.blob))


SAMPLES = [
    ("hello", x.hello(durable_uploads=True)),
    ("helloResult", x.packet(x.HELLO_RESULT, x.text("0.1.0"), x.u64(2), x.u32(25), x.u32(31), x.boolean(True))),
    ("runEx", x.run_ex(["sh", "-c", b"echo \xff"], environment=x.LOGIN_ENV, set_environment=["A=1", "B"],
                       user="www-data", group=None, umask="022", cwd=b"/srv", timeout_ms=1500, grace_ms=250,
                       stream=True, stdin=b"in")),
    ("runExMinimal", x.run_ex(["true"])),
    ("output", x.packet(x.OUTPUT, x.u8(2), x.blob(b"err\n"))),
    ("runFinished", x.packet(x.RUN_FINISHED, x.i32(-15), x.boolean(True), x.optional(None, x.blob),
                             x.optional(None, x.blob))),
    ("runFinishedCaptured", x.packet(x.RUN_FINISHED, x.i32(3), x.boolean(False), x.optional(b"out", x.blob),
                                     x.optional(b"", x.blob))),
    ("input", x.input_data(b"\x00data")),
    ("closeInput", x.close_input()),
    ("signal", x.signal(2)),
    ("listDir", x.list_dir(b"/etc", with_status=True)),
    ("dirEntries", x.packet(x.DIR_ENTRIES, x.u64(2),
                            x.blob(b"a\xff"), x.text("file"), x.boolean(False),
                            x.blob(b"sub"), x.text("dir"), x.boolean(True),
                            stat_fields("dir", 0o755, "root", "root", 4096, 1, 2),
                            x.boolean(True))),
    ("makeDir", x.make_dir(b"/srv/a/b", mode="750", parents=True)),
    ("remove", x.remove(b"/srv/a", recursive=True)),
    ("rename", x.rename(b"/srv/a", b"/srv/b", no_replace=True)),
    ("setMetadata", x.set_metadata(b"/srv/b", follow=False, mode=None, owner="root", group="0",
                                   mtime=-1)),
    ("symlink", x.symlink(b"../target", b"/srv/link")),
    ("readLink", x.read_link(b"/srv/link")),
    ("linkTarget", x.packet(x.LINK_TARGET, x.blob(b"../target"))),
    ("statPath", x.stat_path(b"/srv/\xfe", follow=True, sha512=True)),
    ("helloStructuredFailures", x.hello(durable_uploads=False, structured_failures=True)),
    ("helloResultStructuredFailures", x.packet(x.HELLO_RESULT, x.text("0.2.0"), x.u64(0),
                                               x.u8(x.OPTION_DURABLE_UPLOADS | x.OPTION_STRUCTURED_FAILURES))),
    ("failure", x.failure(x.STEP_EXECUTE, 2, b"no\\such\xff", "[Errno 2] No such file or directory: 'no\\\\such'")),
    ("failureField", x.failure(x.STEP_FIELD, 0, b"mode", "Invalid value '9': Must be in octal format.")),
    ("uploadBeneath", x.upload_beneath(b"/srv", b"a/b\xff", b"hi", new_file_mode="640", owner="root")),
    ("readBeneath", x.read_beneath(b"/srv", b"a/\xfe", with_status=True)),
    ("createBeneath", x.create_beneath(b"/srv", b"a/b", mode="750")),
    ("createBeneathLink", x.create_beneath(b"/srv", b"a/l\xff", link_target=b"../t")),
    ("setMetadataBeneath", x.set_metadata_beneath(b"/srv", b"a/b\xff", mode="750", owner="root", group=None,
                                                  mtime=-1)),
    ("removeBeneath", x.remove_beneath(b"/srv", b"a/b\xff", recursive=True)),
    ("statNumbers", x.stat_numbers([b"/dev/null", b"/srv/a\xff"])),
    ("statNumbersResult", x.stat_numbers_result([(1, 1, 3), (0, 0, 0)])),
    ("windowSize", x.window_size(24, 80)),
    ("runTerminal", x.run_terminal(50, 132, ["/bin/bash", "-l"], environment=x.LOGIN_ENV, set_environment=["TERM=xterm"],
                                   user="alice", stdin=b"")),
]

lines = [f"{name} {data.hex()}" for name, data in SAMPLES]
missing = {p.name for p in PACKETS if p.id >= x.HELLO} - {name[0].upper() + name[1:] for name, _ in SAMPLES}
if missing:
    sys.exit(f"no golden sample for {', '.join(sorted(missing))}")
emit(target("Tests/TunnelWireTests/golden/extensions.txt"), "\n".join(lines) + "\n")
finish("generate-golden-extensions.py")

#!/usr/bin/env python3
"""Writes the fuzzers' committed seed corpora (Tests/Fuzz/corpus/<target>/) and dictionary
(Tests/Fuzz/tunnel.dict): every golden packet, the requests the end-to-end tests send (in
the session target's confined root, see FuzzSession.swift), the malformed shapes the unit
tests check, and sample inputs for each parser. Run again after adding packets or cases;
`--check` fails when a file it would write is missing or different (the tests run it). The
dictionary's packet ids come from the registry (Sources/TunnelWire/PacketID.swift)."""
import hashlib
import os
import sys
from pathlib import Path

from fora.connectors import tunnel_dispatcher as td

sys.path.insert(0, str(Path(__file__).parent))
from generated_file import emit, finish  # noqa: E402
from packet_registry import PACKETS  # noqa: E402
from reference_codec import encode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "Tests" / "Fuzz"


def u64(value):
    return value.to_bytes(8, "big")


def u32(value):
    return value.to_bytes(4, "big")


def write(target, data):
    emit(FUZZ / "corpus" / target / hashlib.sha1(data).hexdigest(), data)


def run(command, **fields):
    base = dict(command=command, stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None)
    base.update(fields)
    return td.PacketProcessRun(**base)


golden = [bytes.fromhex(line.split()[1]) for line in
          (ROOT / "Tests" / "TunnelWireTests" / "golden" / "packets.txt").read_text().splitlines() if line.strip()]

# Requests as the session target meets them: inside /scratch of its confined root.
requests = [
    td.PacketCheckAlive(),
    run(["cat"], stdin=b"abc\n"), run(["echo", "a", "b"]), run(["true"], capture_output=False),
    run(["false"], user="root", group="0", umask="022", cwd="/scratch"), run(["missing"]), run(["cat"], umask="0o_7"),
    run(["cat"], user="alice"), run(["cat"], cwd="/nonexistent"), run([]),
    td.PacketStat(path="/scratch/f", follow_links=False, sha512sum=True), td.PacketStat(path="/etc", follow_links=True, sha512sum=True),
    td.PacketUpload(file="/scratch/f", content=b"content", mode="644", owner=None, group=None),
    td.PacketUpload(file="/scratch/d/g", content=b"x" * 300, mode=None, owner="alice", group="staff"),
    td.PacketUpload(file="/scratch/f", content=b"", mode="bad", owner=None, group=None),
    td.PacketUpload(file="/scratch/", content=b"x", mode=None, owner=None, group=None),
    td.PacketDownload(file="/scratch/f"), td.PacketDownload(file="/etc/passwd"), td.PacketDownload(file="/scratch"),
    td.PacketResolveUser(user="alice"), td.PacketResolveUser(user=" 1000 "), td.PacketResolveUser(user=None),
    td.PacketResolveGroup(group="staff"), td.PacketResolveGroup(group="-1"),
    td.PacketQueryUser(user="alice", query_password_hash=True), td.PacketQueryUser(user="0", query_password_hash=False),
    td.PacketQueryGroup(group="50"), td.PacketGetenv(key="PATH"), td.PacketGetenv(key="A=B"),
]

# The extensions (ids 23 and up), in the session's confined root too.
sys.path.insert(0, str(ROOT / "Tests" / "conformance"))
import extensions as x  # noqa: E402

golden += [bytes.fromhex(line.split()[1]) for line in
           (ROOT / "Tests" / "TunnelWireTests" / "golden" / "extensions.txt").read_text().splitlines() if line.strip()]
extension_sessions = [
    x.hello(),
    x.run_ex(["cat"], stdin=b"abc"), x.run_ex(["echo", b"\xff"], environment=x.EMPTY_ENV, set_environment=["A=1", "A"]),
    x.run_ex(["cat"], stream=True, stdin=b"") + x.input_data(b"more") + x.close_input(),
    x.run_ex(["sleep", "1"], stream=True, timeout_ms=5, grace_ms=5) + x.signal(15),
    x.run_ex(["true"], environment=x.LOGIN_ENV, user="alice"), x.run_ex([]), x.run_ex(["true"], cwd=b"/nonexistent"),
    x.make_dir(b"/scratch/a/b", mode="750", parents=True) + x.symlink(b"../b", b"/scratch/a/l")
    + x.list_dir(b"/scratch/a", with_status=True) + x.read_link(b"/scratch/a/l")
    + x.rename(b"/scratch/a", b"/scratch/z", no_replace=True) + x.set_metadata(b"/scratch/z", mode="700", mtime=-5)
    + x.stat_path(b"/scratch/z", sha512=True) + x.remove(b"/scratch/z", recursive=True),
    x.make_dir(b"/scratch/\xff", mode="9"), x.remove(b"/"), x.list_dir(b"/etc/passwd"),
    x.input_data(b"late") + x.close_input() + x.signal(2),
    # Refusals as Failure: a field, a file operation, a program that cannot start.
    x.hello(structured_failures=True) + x.make_dir(b"/scratch/d", mode="9") + x.remove(b"/scratch/missing")
    + x.run_ex([b"no\\such"]),
    x.create_beneath(b"/scratch", b"t", mode="750") + x.create_beneath(b"/scratch", b"t/l", link_target=b"../t")
    + x.upload_beneath(b"/scratch", b"t/f\xff", b"content", new_file_mode="640")
    + x.read_beneath(b"/scratch", b"t", with_status=True) + x.read_beneath(b"/scratch", b"t/f\xff")
    + x.read_beneath(b"/scratch", b"t/l") + x.read_beneath(b"/scratch", b"t/l/f\xff")
    + x.set_metadata_beneath(b"/scratch", b"t/f\xff", mode="600", mtime=-5)
    + x.set_metadata_beneath(b"/scratch", b"t/l/f\xff", owner="0") + x.set_metadata_beneath(b"/scratch", b"", mtime=0)
    + x.remove_beneath(b"/scratch", b"t/l/f\xff") + x.remove_beneath(b"/scratch", b"t", recursive=True)
    + x.stat_numbers([b"/dev/null", b"/scratch/t", b"/scratch/missing\xff", b""]),
    x.read_beneath(b"/scratch", b"../etc"), x.upload_beneath(b"/scratch", b"", b"x"), x.create_beneath(b"/", b"a//b"),
    # A pty run (where the fuzzer has no /dev/ptmx, its refusal), resized, and a late resize.
    x.run_terminal(24, 80, ["cat"], stdin=b"x\n\x04") + x.window_size(50, 200) + x.close_input(),
    x.run_terminal(0, 0, ["true"], stream=False), x.window_size(1, 1),
]
for data in extension_sessions:
    write("decoder", data)
    write("session", data)

for data in golden:
    write("decoder", data)
write("decoder", b"".join(golden))
for packet in requests:
    write("decoder", encode(packet))
    write("session", encode(packet))
# Sessions of several requests, and an upload followed by what reads it back.
write("session", encode(*requests[:6]))
write("session", encode(requests[12], requests[16], requests[10], td.PacketExit()))
# Malformed shapes: truncations, huge lengths and counts, invalid UTF-8, unknown ids.
stat = encode(td.PacketStat(path="/scratch/f", follow_links=True, sha512sum=True))
for cut in (3, 4, 8, 12, len(stat) - 1):
    write("decoder", stat[:cut])
    write("session", stat[:cut])
for shape in (u32(10) + u64(1 << 62) + b"abc", u32(8) + u64(1 << 40), u32(14) + u64(4) + b"\xff\xfe/x" + u64(1 << 30),
              u32(10) + u64(2) + b"\xc0\x80\x01\x01", u32(99), u32(0xFFFFFFFF), u32(0), u32(6), u32(41)):
    write("decoder", shape)
    write("session", shape)

# Parsers: a selector byte, then the input (see FuzzParsers.swift).
samples = {
    0: ["022", "0o_7", " -7 ", "1777777", "\u30007", "0x12", "2__2"],
    1: [" 0 ", "-1", "4294967295", "0_0", "+5", "٠"],
    2: ["a'b\"c", "tab\tnew\nline", "\x1b\u200b\U0010ffff", "caf\udce9"],
    3: ["ghost:x:4242:4242:Ghost:/home/ghost:/bin/sh\n", "broken:x:notanumber:1::/:/bin/sh", ":x:1:1::/:/bin/sh"],
    4: ["ghosts:x:4242:ghost,other\n", "g:x:1:", "g:x::a", "g:x:1:a,,b\nsecond:x:2:"],
    5: ["alice:$6$abc$def:19000:0:99999:7:::\n", "alice:!:1"],
    6: ["staff:x:50:alice,bob", "broken", "root:x:0:", "x:y:99999999999:"],
    7: ["0", " 1000 ", "-1", "4294967296"],
    8: ["/a/b", "b", "//b", "a/", "/", ""],
}
for selector, inputs in samples.items():
    for text in inputs:
        write("parsers", bytes([selector]) + text.encode("utf-8", "surrogateescape"))

# The dictionary: packet ids, small lengths, field values that reach different branches.
def escaped(data):
    return "".join("\\x%02x" % byte for byte in data)


# Every id of the registry, and one that no packet has.
entries = [f'id_{n}="{escaped(u32(n))}"' for n in [*(packet.id for packet in PACKETS), 99]]
entries += [f'len_{n}="{escaped(u64(n))}"' for n in (0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 1 << 20)]
entries += [f'word_{i}="{word}"' for i, word in enumerate(
    ["/scratch/", "/etc/passwd", "/etc/group", "/tmp", "root", "alice", "staff", "cat", "echo", "true", "644",
     "0o755", "022", "-1", "..", "/scratch/d/", "PATH"])]
emit(FUZZ / "tunnel.dict", "# libFuzzer dictionary for the tunnel protocol (scripts/generate-fuzz-corpus.py)\n"
     + "\n".join(entries) + "\n")
finish("generate-fuzz-corpus.py")

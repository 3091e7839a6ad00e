#!/usr/bin/env python3
"""Writes Tests/TunnelWireTests/golden/packets.txt: one line per sample packet,
`<name> <hex bytes>`, encoded by the reference's own encoder (fora==2.1.7). Run once with
the virtualenv's python and commit the output; the Swift tests compare against it.
`--check` compares instead of writing (the tests run it)."""
from fora.connectors import tunnel_dispatcher as td
from generated_file import emit, finish, target
from reference_codec import encode


SAMPLES = [
    ("ok", td.PacketOk()),
    ("ack", td.PacketAck()),
    ("checkAlive", td.PacketCheckAlive()),
    ("exit", td.PacketExit()),
    ("osError", td.PacketOSError(errno=2, strerror="No such file or directory",
                                 msg="[Errno 2] No such file or directory: '/x'")),
    ("invalidField", td.PacketInvalidField(field="cwd", error_message="The directory does not exist")),
    ("processCompleted", td.PacketProcessCompleted(stdout=b"out\n", stderr=b"", returncode=-9)),
    ("processCompletedUncaptured", td.PacketProcessCompleted(stdout=None, stderr=None, returncode=3)),
    ("processError", td.PacketProcessError(message="Exception occurred in preexec_fn.")),
    ("processRun", td.PacketProcessRun(command=["sh", "-c", "echo \u00e4"], stdin=b"\x00\xff",
                                       capture_output=True, user="root", group=None, umask="022", cwd="/tmp")),
    ("processRunMinimal", td.PacketProcessRun(command=["true"], stdin=None, capture_output=False,
                                              user=None, group="0", umask=None, cwd=None)),
    ("statResult", td.PacketStatResult(type="file", mode=0o644, owner="root", group="root", size=12,
                                       mtime=1700000000123456789, ctime=2**64 - 1, sha512sum=bytes(range(64)))),
    ("statResultNoDigest", td.PacketStatResult(type="dir", mode=0o7777, owner="1234", group="5678", size=0,
                                               mtime=0, ctime=1, sha512sum=None)),
    ("stat", td.PacketStat(path="/etc/passwd", follow_links=True, sha512sum=False)),
    ("resolveResult", td.PacketResolveResult(value="nobody")),
    ("resolveUser", td.PacketResolveUser(user="0")),
    ("resolveUserSelf", td.PacketResolveUser(user=None)),
    ("resolveGroup", td.PacketResolveGroup(group=None)),
    ("upload", td.PacketUpload(file="/tmp/f", content=b"content", mode="600", owner=None, group="nogroup")),
    ("downloadResult", td.PacketDownloadResult(content=b"\x00\x01\x02")),
    ("download", td.PacketDownload(file="/tmp/\u2603")),
    ("userEntry", td.PacketUserEntry(name="root", uid=0, group="root", gid=-1, groups=["a", "bb"],
                                     password_hash="$6$salt$hash", gecos="root", home="/root",
                                     shell="/bin/bash")),
    ("queryUser", td.PacketQueryUser(user="root", query_password_hash=True)),
    ("groupEntry", td.PacketGroupEntry(name="adm", gid=4, members=[])),
    ("queryGroup", td.PacketQueryGroup(group="adm")),
    ("environVar", td.PacketEnvironVar(value="/usr/bin")),
    ("environVarUnset", td.PacketEnvironVar(value=None)),
    ("getenv", td.PacketGetenv(key="PATH")),
]

lines = [f"{name} {encode(packet).hex()}" for name, packet in SAMPLES]
emit(target("Tests/TunnelWireTests/golden/packets.txt"), "\n".join(lines) + "\n")
finish("generate-golden.py")

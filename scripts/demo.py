#!/usr/bin/env python3
"""A short live session with the agent through a pipe, printing each request and answer.
The requests are encoded by fora's own client module (fora==2.1.7), as fora would send them."""
import os
import subprocess
import sys
import tempfile
import time

from fora.connectors import tunnel_dispatcher as td

agent = sys.argv[1] if len(sys.argv) > 1 else "dist/tunnel-dispatcher"
workdir = tempfile.mkdtemp(prefix="tunnel-demo-")
target = os.path.join(workdir, "hello.txt")


def show(value):
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


requests = [
    td.PacketCheckAlive(),
    td.PacketProcessRun(command=["uname", "-sm"], stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None),
    td.PacketProcessRun(command=["tr", "a-z", "A-Z"], stdin=b"shouted through stdin\n", capture_output=True,
                        user=None, group=None, umask=None, cwd="/"),
    td.PacketProcessRun(command=["no-such-program"], stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None),
    td.PacketProcessRun(command=["id"], stdin=None, capture_output=True, user=None, group=None, umask="8", cwd=None),
    td.PacketUpload(file=target, content=b"Hello from the tunnel!\n", mode="640", owner=None, group=None),
    td.PacketStat(path=target, follow_links=False, sha512sum=True),
    td.PacketDownload(file=target),
    td.PacketStat(path=os.path.join(workdir, "missing"), follow_links=False, sha512sum=False),
    td.PacketResolveUser(user="0"),
    td.PacketResolveGroup(group=None),
    td.PacketQueryUser(user="root", query_password_hash=False),
    td.PacketQueryGroup(group="root"),
    td.PacketGetenv(key="HOME"),
]

started = time.perf_counter()
process = subprocess.Popen([agent], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
conn = td.Connection(process.stdout, process.stdin)
print(f"agent: {agent} ({os.path.getsize(agent)} bytes, static)\n")
for request in requests:
    conn.write_packet(request)
    packet_id = int.from_bytes(conn.read(4), "big")
    answer = td.packet_deserializers[packet_id](conn)
    print(f"-> {show(request)}\n<- {show(answer)}\n")
conn.write_packet(td.PacketExit())
process.stdin.close()
status = process.wait()
print(f"-> PacketExit()\nagent exited with status {status}; "
      f"{len(requests)} requests answered in {(time.perf_counter() - started) * 1000:.1f} ms")
os.unlink(target)
os.rmdir(workdir)

#!/usr/bin/env python3
"""A stand-in for ssh over a slow link, to count a start's round trips in wall time without
touching the machine's network: runs the remote command (the word after `-- HOST`) with the
local `sh -c`, and delivers every byte in either direction LINK_DELAY seconds (default
0.010) after it was sent: a round trip of 2*LINK_DELAY. The command arrives LINK_DELAY after
the start, as ssh's exec request does; stdin is read from the start, as ssh sends it right
behind that request. Used for docs/performance.md ("Fourth pass"):

    mkdir /tmp/slow && ln -s $PWD/scripts/slow-link-ssh.py /tmp/slow/ssh
    PATH=/tmp/slow:$PATH LINK_DELAY=0.05 TUNNEL_AGENT_DIR=dist dist/tunnel --ssh h run -- true
"""
import os, queue, subprocess, sys, threading, time
DELAY = float(os.environ.get("LINK_DELAY", "0.010"))
args = sys.argv[1:]
command = args[args.index("--") + 2] if "--" in args else "true"

def reader(source, q):
    while True:
        data = os.read(source, 65536)
        q.put((time.monotonic() + DELAY, data))
        if not data:
            return

def deliver(q, write, close):
    while True:
        due, data = q.get()
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if not data:
            close()
            return
        try:
            write(data)
        except BrokenPipeError:
            pass

up = queue.Queue()
threading.Thread(target=reader, args=(0, up), daemon=True).start()
time.sleep(DELAY)
child = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
threading.Thread(target=deliver, args=(up, child.stdin.write, child.stdin.close), daemon=True).start()
down = queue.Queue()
threading.Thread(target=reader, args=(child.stdout.fileno(), down), daemon=True).start()
out = sys.stdout.buffer
deliver(down, lambda d: (out.write(d), out.flush()), lambda: None)
sys.exit(child.wait())

#!/usr/bin/env python3
"""A hostile agent for the client's tests (issue 20): it speaks the protocol (the codec of
extensions.py) and serves a made-up tree under /t that lies the way a compromised target
could: names that are not single names, a name listed twice, an entry that is a different
kind when read than when listed, set-user-ID modes, content that stalls mid-download.

    fake_agent.py SCENARIO [OUTSIDE]     (as tunnel's --via; OUTSIDE: a folder path)

A tree node is ("dir", [(name, listed_type, node, mode)...]), ("file", content) or
("link", target, followed) where `followed` is what a ListDir or Download that follows
the link finds (a real agent's ListDir follows a final symlink)."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import extensions as x  # noqa: E402

CHECK_ALIVE, EXIT, STAT, DOWNLOAD, ACK, STAT_RESULT, LINK_TARGET = 2, 3, 10, 16, 1, 9, 39
RESOLVE_RESULT, RESOLVE_USER = 11, 12
SERVED = [23, 25, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 40, x.UPLOAD_BENEATH, x.READ_BENEATH, x.CREATE_BENEATH,
          x.SET_METADATA_BENEATH, x.REMOVE_BENEATH]


def file(content=b"data"): return ("file", content)


def scenario(name, outside):
    """The tree at /t for `name`."""
    outside = outside.encode() if outside else b"/nonexistent"
    secret = ("dir", [(b"secret.txt", "file", file(b"secret"), 0o644)])
    if name.startswith("name:"):
        bad = bytes.fromhex(name[5:])
        return ("dir", [(b"ok", "file", file(b"ok"), 0o644),
                        (bad, "file", file(b"pwned"), 0o644)])
    if name == "dotdot-dir":
        return ("dir", [(b"..", "dir", ("dir", [(b"escape", "file", file(b"pwned"), 0o644)]), 0o755)])
    if name == "duplicate":
        return ("dir", [(b"d", "link", ("link", outside, None), 0o777),
                        (b"d", "dir", ("dir", [(b"planted", "file", file(b"pwned"), 0o644)]), 0o755)])
    if name == "swapped-kind":
        # Listed as a folder; read, it is a symlink to a folder the tree never held.
        return ("dir", [(b"sub", "dir", ("link", b"/secret", secret), 0o755)])
    if name == "folder-becomes-file":
        return ("dir", [(b"d", "dir", file(b"not a folder"), 0o755), (b"z", "file", file(b"z"), 0o644)])
    if name == "file-becomes-folder":
        return ("dir", [(b"f", "file", secret, 0o644)])
    if name == "setuid":
        return ("dir", [(b"tool", "file", file(b"#!/bin/sh\n"), 0o6755), (b"shared", "dir", ("dir", []), 0o3777)])
    if name == "escapes":
        # Names carrying escape sequences, in a listing whose kinds the client reports on:
        # a fifo (skipped) and a file that is a folder when read (not copied).
        return ("dir", [(b"\x1b[2Jfifo", "fifo", file(), 0o644),
                        (b"\x1b]0;owned\x07file", "file", secret, 0o644)])
    if name == "long-escape":
        # A single name, with an escape sequence, too long for the local file system.
        return ("dir", [(b"\x1b]0;owned\x07" + b"n" * 300, "file", file(), 0o644)])
    if name == "run-failure":
        # Its RunEx is refused (step execute, ENOENT) with escape sequences in the message.
        return ("dir", [])
    if name == "wide-mode":
        # A mode wider than the 32 bits of any mode_t: the client keeps the permission bits.
        return ("dir", [(b"f", "file", file(), (1 << 40) | 0o4755), (b"d", "dir", ("dir", []), (1 << 63) | 0o755)])
    if name in ("fewer-numbers", "more-numbers", "endless-numbers"):
        # StatNumbers answered with one entry too few or too many: no name gets another's.
        SERVED.append(x.STAT_NUMBERS)
        return ("dir", [(b"a", "file", file(), 0o644), (b"b", "file", file(), 0o644)])
    if name == "endless":
        return ENDLESS
    if name == "older-agent":
        # An agent from before ids 42-44: HelloResult does not list them.
        SERVED[:] = [i for i in SERVED if i < 41]
        return ("dir", [(b"f", "file", file(b"f"), 0o644)])
    if name == "before-45":
        # An agent from before SetMetadataBeneath, which must not be asked SetMetadata.
        SERVED[:] = [i for i in SERVED if i not in (x.SET_METADATA_BENEATH, x.SET_METADATA)]
        return ("dir", [(b"f", "file", file(b"f"), 0o644)])
    if name == "before-46":
        # An agent from before RemoveBeneath, which must not be asked to change anything.
        SERVED[:] = [i for i in SERVED if i not in (x.REMOVE_BENEATH, x.REMOVE, x.SET_METADATA)]
        return ("dir", [(b"f", "file", file(b"f"), 0o644)])
    if name == "stall":
        return ("dir", [(b"big", "file", ("stall",), 0o644)])
    if name == "endless-listing":
        return ENDLESS_LISTING
    if name == "endless-digests":
        # As endless-listing, with short names, each entry's status carrying a 1 KiB
        # "sha512sum" (which no real listing has): the bytes are in the digests.
        return ENDLESS_DIGESTS
    raise SystemExit(f"unknown scenario {name}")


ENDLESS = ("dir", [(b"d", "dir", None, 0o755)])   # a folder that holds itself, without end
ENDLESS_LISTING = ("dir", [])   # a folder whose listing never ends (`endless_listing`)
ENDLESS_DIGESTS = ("dir", [])   # the same, its bytes in each status's digest


def endless_listing(out, digests=False):
    """Pages of a listing, never the last one, each name new and 200 bytes long (8 bytes
    with a 1 KiB digest in its status, with `digests`), until the client goes away."""
    number = 0
    try:
        while True:
            if digests:
                body = b"".join(x.blob(b"%08d" % (number + i)) + x.text("file") + x.boolean(True)
                                + stat_fields("file", 0o644)[:-1] + x.boolean(True) + x.blob(b"d" * 1024)
                                for i in range(512))
            else:
                body = b"".join(x.blob(b"%0200d" % (number + i)) + x.text("file") + x.boolean(True)
                                + stat_fields("file", 0o644) for i in range(512))
            number += 512
            out.write(x.packet(x.DIR_ENTRIES, x.u64(512), body, x.boolean(False)))
    except BrokenPipeError:
        sys.exit(0)


class Tree:
    def __init__(self, root):
        self.nodes = {}   # path -> [(node, mode)]
        self.endless = root is ENDLESS
        if not self.endless:
            self.add(b"/t", root, 0o755)

    def add(self, path, node, mode):
        self.nodes.setdefault(path, []).append((node, mode))
        if node[0] == "dir":
            for name, _, child, child_mode in node[1]:
                self.add(path + b"/" + name, child, child_mode)
        if node[0] == "link" and node[2] is not None and node[2][0] == "dir":
            # What a path through the link reaches, for requests that follow it.
            for name, _, child, child_mode in node[2][1]:
                self.add(path + b"/" + name, child, child_mode)

    def find(self, path, kind=None, follow=False):
        """The node at `path` (of `kind` when there are several), following a link when asked."""
        if self.endless:
            return (ENDLESS, 0o755) if path == b"/t" or path.startswith(b"/t/d") else (None, 0)
        candidates = self.nodes.get(path, [])
        for node, mode in candidates:
            if kind is None or node[0] == kind or (node[0] == "stall" and kind == "file"):
                return node, mode
        if follow:
            for node, mode in candidates:
                if node[0] == "link" and node[2] is not None:
                    return node[2], mode
        return None, 0


def stat_fields(kind, mode, size=0):
    return x.text(kind) + x.u64(mode) + x.text("root") + x.text("root") + x.u64(size) + x.u64(0) + x.u64(0) + x.boolean(False)


def kind_word(node): return {"dir": "dir", "file": "file", "link": "link", "stall": "file"}[node[0]]


def entries(node):
    body = b"".join(x.blob(name) + x.text(listed) + x.boolean(True) + stat_fields(listed, mode)
                    for name, listed, _, mode in node[1])
    return x.packet(x.DIR_ENTRIES, x.u64(len(node[1])), body, x.boolean(True))


def not_found(path):
    return x.packet(x.OS_ERROR, x.i64(2), x.text("No such file or directory"),
                    x.text(f"[Errno 2] No such file or directory: '{path.decode(errors='replace')}'"))


def content(out, node):
    if node[0] == "stall":
        # Promises 64 MiB, sends 1 MiB, then waits for the client to go away.
        out.write(x.u32(15) + x.u64(64 << 20) + b"s" * (1 << 20))
        out.flush()
        while sys.stdin.buffer.read(65536):
            pass
        sys.exit(0)
    return x.packet(15, x.blob(node[1]))


def answer(node, mode, path, out, with_status=True):
    if node is None:
        return not_found(path)
    if node is ENDLESS_LISTING:
        endless_listing(out)
    if node is ENDLESS_DIGESTS:
        endless_listing(out, digests=True)
    if node[0] == "dir":
        return entries(node)
    if node[0] == "link":
        return x.packet(LINK_TARGET, x.blob(node[1]))
    return content(out, node)


def main():
    tree = Tree(scenario(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
    data = sys.stdin.buffer
    reader = x.Reader(data)
    out = sys.stdout.buffer
    while True:
        header = data.read(4)
        if len(header) < 4:
            return
        packet_id = struct.unpack(">I", header)[0]
        if packet_id == CHECK_ALIVE:
            reply = x.packet(ACK)
        elif packet_id == EXIT:
            return
        elif packet_id == x.HELLO:
            reader.boolean()
            structured = sys.argv[1] == "run-failure"
            reply = x.packet(x.HELLO_RESULT, x.text("fake"), x.u64(len(SERVED)), b"".join(x.u32(i) for i in SERVED),
                             x.u8(x.OPTION_STRUCTURED_FAILURES if structured else 0))
        elif packet_id == x.RUN_EX and sys.argv[1] == "run-failure":
            out.write(x.failure(4, 2, b"prog", "[Errno 2] No such file or directory: '\x1b]0;owned\x07'"))
            out.flush()
            return   # the request's fields are left unread: the session ends here
        elif packet_id == RESOLVE_USER:
            # Who the agent runs as (sync asks, for owners): an unprivileged user.
            reader.optional(reader.text)
            reply = x.packet(RESOLVE_RESULT, x.text("fake"))
        elif packet_id in (x.STAT_PATH, STAT):
            path = reader.blob()
            follow, _ = reader.boolean(), reader.boolean()
            node, mode = tree.find(path, follow=follow)
            reply = x.packet(STAT_RESULT, stat_fields(kind_word(node), mode)) if node else not_found(path)
        elif packet_id == x.LIST_DIR:
            path, _ = reader.blob(), reader.boolean()
            node, _ = tree.find(path, "dir", follow=True)
            reply = answer(node, 0, path, out) if node else not_found(path)
        elif packet_id == x.STAT_NUMBERS:
            paths = [reader.blob() for _ in range(reader.u64())]
            if sys.argv[1] == "endless-numbers":
                # Claims 16 million entries (the client's usual list cap) for 2 paths, and
                # sends them until the client goes away: 384 MiB if it kept reading.
                out.write(x.u32(x.STAT_NUMBERS_RESULT) + x.u64(1 << 24))
                try:
                    while True:
                        out.write(x.u64(7) * 3 * 65536)
                except BrokenPipeError:
                    sys.exit(0)
            count = len(paths) + (1 if sys.argv[1] == "more-numbers" else -1)
            reply = x.stat_numbers_result([(7, 0, 0)] * count)
        elif packet_id == x.READ_LINK:
            path = reader.blob()
            node, _ = tree.find(path, "link")
            reply = x.packet(LINK_TARGET, x.blob(node[1])) if node else not_found(path)
        elif packet_id == DOWNLOAD:
            path = reader.blob()
            node, mode = tree.find(path, "file", follow=True)
            reply = answer(node, mode, path, out)
        elif packet_id == x.SET_METADATA:
            # Accepted and ignored: chmod -R and chown -R walk the tree between them.
            reader.blob(), reader.boolean(), reader.optional(reader.text), reader.optional(reader.text)
            reader.optional(reader.text), reader.optional(reader.i64)
            reply = x.packet(x.OK)
        elif packet_id == x.SET_METADATA_BENEATH:
            reader.blob(), reader.blob(), reader.optional(reader.text), reader.optional(reader.text)
            reader.optional(reader.text), reader.optional(reader.i64)
            reply = x.packet(x.OK)
        elif packet_id == x.READ_BENEATH:
            root, relative, _ = reader.blob(), reader.blob(), reader.boolean()
            path = root + (b"/" + relative if relative else b"")
            node, mode = tree.find(path)
            reply = answer(node, mode, path, out)
        else:
            sys.stderr.write(f"fake agent: request {packet_id} is not part of the scenario\n")
            return
        out.write(reply)
        out.flush()


if __name__ == "__main__":
    main()

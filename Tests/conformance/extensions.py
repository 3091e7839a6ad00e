"""The extension packets (ids 23 and up, docs/protocol.md "Extensions") in Python: an
encoder and decoder written from the document, independent of the Swift codec, so that
the tests check the two against each other."""
import struct

HELLO, HELLO_RESULT, RUN_EX, OUTPUT, RUN_FINISHED, INPUT, CLOSE_INPUT, SIGNAL = range(23, 31)
LIST_DIR, DIR_ENTRIES, MAKE_DIR, REMOVE, RENAME, SET_METADATA, SYMLINK, READ_LINK, LINK_TARGET, STAT_PATH = range(31, 41)
FAILURE = 41
# Failure's steps (docs/protocol.md, "Failure").
STEP_FIELD, STEP_SYSTEM, STEP_FILE, STEP_CHANGE_DIRECTORY, STEP_EXECUTE, STEP_PREPARE_CHILD, STEP_POLICY = range(7)
# Hello's and HelloResult's options byte.
OPTION_DURABLE_UPLOADS, OPTION_STRUCTURED_FAILURES = 1, 2
UPLOAD_BENEATH, READ_BENEATH, CREATE_BENEATH, SET_METADATA_BENEATH, REMOVE_BENEATH = range(42, 47)
WINDOW_SIZE, RUN_TERMINAL = 48, 49
STAT_NUMBERS, STAT_NUMBERS_RESULT = 47, 52
DOWNLOAD_RESULT = 15
OK, OS_ERROR, INVALID_FIELD, PROCESS_ERROR, STAT_RESULT = 0, 4, 5, 7, 9
AGENT_ENV, EMPTY_ENV, LOGIN_ENV = 0, 1, 2


def u8(value): return struct.pack(">B", value)
def u32(value): return struct.pack(">I", value)
def u64(value): return struct.pack(">Q", value)
def i32(value): return struct.pack(">i", value)
def i64(value): return struct.pack(">q", value)
def boolean(value): return u8(1 if value else 0)
def blob(value): return u64(len(value)) + value
def text(value): return blob(value.encode())
def blob_list(values): return u64(len(values)) + b"".join(blob(v) for v in values)
def optional(value, encode): return boolean(value is not None) + (encode(value) if value is not None else b"")


def packet(packet_id, *fields): return u32(packet_id) + b"".join(fields)


def hello(durable_uploads=False, structured_failures=False):
    return packet(HELLO, u8((OPTION_DURABLE_UPLOADS if durable_uploads else 0)
                            | (OPTION_STRUCTURED_FAILURES if structured_failures else 0)))


def failure(step, errno, subject, message): return packet(FAILURE, u8(step), i64(errno), blob(subject), text(message))


def run_ex(command, environment=AGENT_ENV, set_environment=(), user=None, group=None, umask=None, cwd=None,
           timeout_ms=0, grace_ms=2000, stream=False, stdin=None):
    return packet(RUN_EX, blob_list([c if isinstance(c, bytes) else c.encode() for c in command]), u8(environment),
                  blob_list([s.encode() if isinstance(s, str) else s for s in set_environment]),
                  optional(user, text), optional(group, text), optional(umask, text), optional(cwd, blob),
                  u64(timeout_ms), u64(grace_ms), boolean(stream), optional(stdin, blob))


def run_terminal(rows, columns, command, **run_fields):
    """RunTerminal: the window size, then RunEx's fields (a terminal run is streamed)."""
    run_fields.setdefault("stream", True)
    return packet(RUN_TERMINAL, u32(rows), u32(columns), run_ex(command, **run_fields)[4:])


def window_size(rows, columns): return packet(WINDOW_SIZE, u32(rows), u32(columns))
def input_data(data): return packet(INPUT, blob(data))
def close_input(): return packet(CLOSE_INPUT)
def signal(number): return packet(SIGNAL, i32(number))
def list_dir(path, with_status=False): return packet(LIST_DIR, blob(path), boolean(with_status))
def make_dir(path, mode=None, parents=False): return packet(MAKE_DIR, blob(path), optional(mode, text), boolean(parents))
def remove(path, recursive=False): return packet(REMOVE, blob(path), boolean(recursive))
def rename(source, target, no_replace=False): return packet(RENAME, blob(source), blob(target), boolean(no_replace))
def symlink(target, path): return packet(SYMLINK, blob(target), blob(path))
def read_link(path): return packet(READ_LINK, blob(path))
def stat_path(path, follow=False, sha512=False): return packet(STAT_PATH, blob(path), boolean(follow), boolean(sha512))
def read_beneath(root, path, with_status=False): return packet(READ_BENEATH, blob(root), blob(path), boolean(with_status))
def create_beneath(root, path, mode=None, link_target=None):
    return packet(CREATE_BENEATH, blob(root), blob(path), optional(mode, text), optional(link_target, blob))


def set_metadata_beneath(root, path, mode=None, owner=None, group=None, mtime=None):
    return packet(SET_METADATA_BENEATH, blob(root), blob(path), optional(mode, text), optional(owner, text),
                  optional(group, text), optional(mtime, i64))


def remove_beneath(root, path, recursive=False):
    return packet(REMOVE_BENEATH, blob(root), blob(path), boolean(recursive))


def stat_numbers(paths): return packet(STAT_NUMBERS, blob_list(paths))


def stat_numbers_result(entries):
    """`entries`: (link count, major, minor) per path."""
    return packet(STAT_NUMBERS_RESULT, u64(len(entries)), *(u64(n) + u64(major) + u64(minor) for n, major, minor in entries))


def upload_beneath(root, path, content, mode=None, new_file_mode=None, owner=None, group=None):
    return packet(UPLOAD_BENEATH, blob(root), blob(path), blob(content), optional(mode, text),
                  optional(new_file_mode, text), optional(owner, text), optional(group, text))


def set_metadata(path, follow=True, mode=None, owner=None, group=None, mtime=None):
    return packet(SET_METADATA, blob(path), boolean(follow), optional(mode, text), optional(owner, text),
                  optional(group, text), optional(mtime, i64))


class Reader:
    """Decodes answers from a binary stream (the agent's stdout)."""

    def __init__(self, stream):
        self.stream = stream

    def take(self, count):
        data = self.stream.read(count)
        if len(data) != count:
            raise EOFError(f"wanted {count} bytes, got {len(data)}")
        return data

    def u8(self): return self.take(1)[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def u64(self): return struct.unpack(">Q", self.take(8))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]
    def boolean(self): return self.u8() != 0
    def blob(self): return self.take(self.u64())
    def text(self): return self.blob().decode()
    def optional(self, read): return read() if self.boolean() else None

    def stat_fields(self):
        return dict(type=self.text(), mode=self.u64(), owner=self.text(), group=self.text(), size=self.u64(),
                    mtime=self.u64(), ctime=self.u64(), sha512=self.optional(self.blob))

    def answer(self):
        """(name, fields) of the next packet."""
        packet_id = self.u32()
        if packet_id == OK:
            return "Ok", {}
        if packet_id == OS_ERROR:
            return "OSError", dict(errno=self.i64(), strerror=self.text(), msg=self.text())
        if packet_id == INVALID_FIELD:
            return "InvalidField", dict(field=self.text(), message=self.text())
        if packet_id == PROCESS_ERROR:
            return "ProcessError", dict(message=self.text())
        if packet_id == STAT_RESULT:
            return "StatResult", self.stat_fields()
        if packet_id == HELLO_RESULT:
            version = self.text()
            extensions = [self.u32() for _ in range(self.u64())]
            options = self.u8()
            return "HelloResult", dict(version=version, extensions=extensions,
                                       durable_uploads=bool(options & OPTION_DURABLE_UPLOADS),
                                       structured_failures=bool(options & OPTION_STRUCTURED_FAILURES))
        if packet_id == FAILURE:
            return "Failure", dict(step=self.u8(), errno=self.i64(), subject=self.blob(), message=self.text())
        if packet_id == OUTPUT:
            return "Output", dict(stream=self.u8(), data=self.blob())
        if packet_id == RUN_FINISHED:
            return "RunFinished", dict(returncode=self.i32(), timed_out=self.boolean(), stdout=self.optional(self.blob),
                                       stderr=self.optional(self.blob))
        if packet_id == DIR_ENTRIES:
            entries = []
            for _ in range(self.u64()):
                name, kind = self.blob(), self.text()
                entries.append((name, kind, self.optional(self.stat_fields)))
            return "DirEntries", dict(entries=entries, last=self.boolean())
        if packet_id == DOWNLOAD_RESULT:
            return "DownloadResult", dict(content=self.blob())
        if packet_id == LINK_TARGET:
            return "LinkTarget", dict(target=self.blob())
        raise ValueError(f"unexpected packet id {packet_id}")

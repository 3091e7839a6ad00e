#!/usr/bin/env python3
"""`make bench`: the agent and the Python reference (fora==2.1.7, run by the system python3)
side by side, with the same driver in the same run, plus the machine's own limits.
Each figure is the median of REPEAT runs; peak RSS is VmHWM (see Session). Not a test: no
figure here fails anything. Usage: bench.py AGENT [--quick] [--only TEXT] (the cases whose
name holds TEXT, and nothing else; "trees", "sync" and "big" name the tree cases of
bench_trees.py) [--big] (the trees of 100,000 and 1,000,000 entries too) [--also-tunnel CLIENT]
(through ControlMaster, another build of the client beside this one)"""
import contextlib
import hashlib
import os
import pwd
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import bench_trees
from fora.connectors import tunnel_dispatcher as td
from reference_codec import encode, encode_value
from local_sshd import available as sshd_available, local_sshd

AGENT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "dist/tunnel-dispatcher")
QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
# Another tunnel client (an earlier build), timed beside dist/tunnel through ControlMaster.
# The tree cases of 100,000 and 1,000,000 entries (minutes, and 1M inodes for a while).
BIG_TREES = "--big" in sys.argv
ALSO_TUNNEL = sys.argv[sys.argv.index("--also-tunnel") + 1] if "--also-tunnel" in sys.argv else None
REPEAT = 3 if QUICK else 5
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
REFERENCE = [SYSTEM_PYTHON, "-W", "ignore::DeprecationWarning", td.__file__]
MIB = 1 << 20
BIG = (64 if QUICK else 256) * MIB
CAT = (16 if QUICK else 64) * MIB
WORK = tempfile.mkdtemp(prefix="tunnel-bench-")


class Session:
    """A dispatcher with a raw client; `finish()` returns its peak RSS in KiB.

    Peak RSS is VmHWM of /proc/PID/status, read just before Exit: wait4()'s ru_maxrss is
    useless here, because at exec the kernel folds the spawning process's high-water mark
    (this driver's, ~100 MiB) into the child's, fork or vfork alike."""

    def __init__(self, command):
        # posix_spawn (vfork-like), not fork: a forked child would count the driver's own
        # pages in its ru_maxrss until it execs.
        to_child, child_stdin = os.pipe()
        child_stdout, from_child = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, to_child, 0), (os.POSIX_SPAWN_DUP2, from_child, 1)]
        self.pid = os.posix_spawn(command[0], command, os.environ, file_actions=actions)
        for fd in (to_child, from_child):
            os.close(fd)
        self.stdin = os.fdopen(child_stdin, "wb")
        self.stdout = os.fdopen(child_stdout, "rb")
        self.conn = td.Connection(self.stdout, self.stdin)

    def request(self, packet):
        self.conn.write_packet(packet)
        packet_id = int.from_bytes(self.conn.read(4), "big")
        return td.packet_deserializers[packet_id](self.conn)

    # Large payloads bypass the reference's codec, which copies them (data[:count]) and
    # reads them in growing pieces: the driver would otherwise dominate what is measured.
    # The fields around a payload are still encoded by the reference's own encoder.

    def send_with_payload(self, packet_without_payload, payload_offset, payload):
        """Writes `packet_without_payload` (encoded with an empty payload whose u64 length
        starts at `payload_offset`) with `payload` spliced in, without copying it."""
        encoded = encode(packet_without_payload)
        self.stdin.write(encoded[:payload_offset] + len(payload).to_bytes(8, "big"))
        self.stdin.write(memoryview(payload))
        self.stdin.write(encoded[payload_offset + 8:])
        self.stdin.flush()

    def read_payload(self):
        length = int.from_bytes(self.stdout.read(8), "big")
        data = bytearray(length)
        view = memoryview(data)
        done = 0
        while done < length:
            got = self.stdout.readinto(view[done:])
            if not got:
                raise EOFError("payload cut short")
            done += got
        return data

    def read_id(self):
        return int.from_bytes(self.stdout.read(4), "big")

    def upload(self, path, content):
        packet = td.PacketUpload(file=path, content=b"", mode=None, owner=None, group=None)
        self.send_with_payload(packet, 4 + 8 + len(path.encode()), content)
        assert self.read_id() == 0

    def download(self, path):
        self.conn.write_packet(td.PacketDownload(file=path))
        assert self.read_id() == 15
        return self.read_payload()

    def run_with_stdin(self, command, stdin):
        """ProcessRun with captured output; returns (stdout, stderr, returncode)."""
        packet = run(command, stdin=b"")
        command_bytes = len(encode_value(list[str], command))
        self.send_with_payload(packet, 4 + command_bytes + 1, stdin)
        assert self.read_id() == 6
        outputs = []
        for _ in range(2):
            outputs.append(self.read_payload() if self.stdout.read(1) != b"\0" else None)
        return outputs[0], outputs[1], int.from_bytes(self.stdout.read(4), "big", signed=True)

    def peak_rss(self):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def finish(self):
        peak = self.peak_rss()
        self.conn.write_packet(td.PacketExit())
        self.stdin.close()
        self.stdout.read()
        self.stdout.close()
        os.waitpid(self.pid, 0)
        return peak


class pinned_to_one_cpu:
    """Latency cases run with the driver, the dispatcher and its children on one CPU: on
    this VM a wake-up across CPUs costs ~40 µs and lands at random, which made round trips
    bimodal (7 or 80 µs) from one run to the next. Children inherit the affinity."""

    def __enter__(self):
        self.saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(self.saved)})

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.saved)


# Cases measured on one CPU (see pinned_to_one_cpu).
LATENCY_CASES = set()


def latency(case):
    LATENCY_CASES.add(case)
    return case


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run(command, **kw):
    fields = dict(command=command, stdin=None, capture_output=True, user=None, group=None, umask=None, cwd=None)
    fields.update(kw)
    return td.PacketProcessRun(**fields)


# --- the cases: each returns (seconds per unit, peak RSS KiB) -----------------------------------

@latency
def startup(command, count=100 if QUICK else 300):
    rss = 0

    def loop():
        nonlocal rss
        for _ in range(count):
            session = Session(command)
            assert isinstance(session.request(td.PacketCheckAlive()), td.PacketAck)
            rss = session.finish()
    return timed(loop) / count, rss


@latency
def sequential(command, count=2000 if QUICK else 10000):
    session = Session(command)
    seconds = timed(lambda: [session.request(td.PacketCheckAlive()) for _ in range(count)])
    return seconds / count, session.finish()


def pipelined(command, count=20000 if QUICK else 100000):
    session = Session(command)
    data = (2).to_bytes(4, "big") * count

    def write():
        session.stdin.write(data)
        session.stdin.flush()

    def go():
        writer = threading.Thread(target=write)
        writer.start()
        received = 0
        while received < 4 * count:
            received += len(session.stdout.read1(1 << 20))
        writer.join()
    seconds = timed(go)
    return seconds / count, session.finish()


@latency
def process_true(command, count=100 if QUICK else 300):
    session = Session(command)
    packet = run(["true"])
    seconds = timed(lambda: [session.request(packet) for _ in range(count)])
    return seconds / count, session.finish()


CAT_INPUT = os.urandom(CAT)


def cat_through(command):
    session = Session(command)
    answer = None

    def go():
        nonlocal answer
        answer = session.run_with_stdin(["cat"], CAT_INPUT)
    seconds = timed(go)
    assert answer[0] == CAT_INPUT and answer[2] == 0
    return seconds, session.finish()


BIG_CONTENT = os.urandom(BIG)
BIG_DIGEST = hashlib.sha512(BIG_CONTENT).digest()


def file_round_trip(command):
    session = Session(command)
    path = os.path.join(WORK, "big")

    def go():
        session.upload(path, BIG_CONTENT)
        assert session.download(path) == BIG_CONTENT
        assert session.request(td.PacketStat(path=path, follow_links=False, sha512sum=True)).sha512sum == BIG_DIGEST
    seconds = timed(go)
    os.unlink(path)
    return seconds, session.finish()


def stat_sha512_of(path):
    """A case: seconds for one Stat with SHA-512 of `path`, page cache warm."""
    def case(command):
        session = Session(command)
        session.request(td.PacketStat(path=path, follow_links=False, sha512sum=True))
        seconds = timed(lambda: session.request(td.PacketStat(path=path, follow_links=False, sha512sum=True)))
        return seconds, session.finish()
    return case


BIG_FILE = os.path.join(WORK, "hashme")
with open(BIG_FILE, "wb") as handle:
    handle.write(BIG_CONTENT)
stat_sha512 = stat_sha512_of(BIG_FILE)


# --- issue 9: lookups that were slower than the reference ------------------------------------------

UNNAMED = os.path.join(WORK, "unnamed-owner")
open(UNNAMED, "wb").close()
IS_ROOT = os.getuid() == 0
if IS_ROOT:
    os.chown(UNNAMED, 54321, 54321)


@latency
def stat_unnamed_owner(command, count=100 if QUICK else 300):
    """Stat of a file whose uid and gid have no name (the agent asked getent for each)."""
    session = Session(command)
    packet = td.PacketStat(path=UNNAMED, follow_links=False, sha512sum=False)
    seconds = timed(lambda: [session.request(packet) for _ in range(count)])
    return seconds / count, session.finish()


BIG_GROUP_FILE = os.path.join(WORK, "group")
with open("/etc/group") as real, open(BIG_GROUP_FILE, "w") as big:
    big.write(real.read())
    big.writelines(f"bench{i}:x:{200000 + i}:root,member{i}\n" for i in range(200_000))


def with_big_group_file(command):
    """`command` in a private mount namespace where /etc/group has 200,000 more groups."""
    return [shutil.which("unshare"), "--mount", "sh", "-c", f'mount --bind {BIG_GROUP_FILE} /etc/group && exec "$0" "$@"', *command]


def query_user_big_groups(command, count=3 if QUICK else 10):
    session = Session(with_big_group_file(command))
    packet = td.PacketQueryUser(user="root", query_password_hash=False)
    assert len(session.request(packet).groups) >= 200_000
    seconds = timed(lambda: [session.request(packet) for _ in range(count)])
    return seconds / count, session.finish()


def query_group_big_groups(command, count=3 if QUICK else 10):
    session = Session(with_big_group_file(command))
    packet = td.PacketQueryGroup(group="bench199999")
    assert session.request(packet).gid == 399_999
    seconds = timed(lambda: [session.request(packet) for _ in range(count)])
    return seconds / count, session.finish()


# --- issue 15: many small files, as fora deploys them ------------------------------------------

SMALL_COUNT = 500
SMALL_CONTENT = [os.urandom(4096) for _ in range(SMALL_COUNT)]


def small_files_directory():
    directory = tempfile.mkdtemp(dir=WORK)
    return directory, [os.path.join(directory, f"f{i}") for i in range(SMALL_COUNT)]


def small_uploads_pipelined(command):
    """500 uploads of 4 KiB (mode 644) written at once, answers read after."""
    session = Session(command)
    directory, paths = small_files_directory()
    data = b"".join(encode(td.PacketUpload(file=path, content=content, mode="644", owner=None, group=None))
                    for path, content in zip(paths, SMALL_CONTENT))
    ok = encode(td.PacketOk())

    def go():
        writer = threading.Thread(target=lambda: (session.stdin.write(data), session.stdin.flush()))
        writer.start()
        assert session.stdout.read(len(ok) * SMALL_COUNT) == ok * SMALL_COUNT
        writer.join()
    seconds = timed(go)
    shutil.rmtree(directory)
    return seconds, session.finish()


def small_uploads_pipelined_durable(command):
    """The same with the agent's --durable (the reference has no such mode: it never syncs)."""
    return small_uploads_pipelined(command + ["--durable"] if command[0] == AGENT else command)


def small_files_synchronous(command):
    """fora's pattern: for each file, Stat with SHA-512, wait, Upload, wait."""
    session = Session(command)
    directory, paths = small_files_directory()

    def go():
        for path, content in zip(paths, SMALL_CONTENT):
            answer = session.request(td.PacketStat(path=path, follow_links=False, sha512sum=True))
            assert isinstance(answer, td.PacketInvalidField)
            assert isinstance(session.request(td.PacketUpload(file=path, content=content, mode="644", owner=None,
                                                              group=None)), td.PacketOk)
    seconds = timed(go)
    shutil.rmtree(directory)
    return seconds, session.finish()


SSH = []   # the ssh argv prefix while the bench's own sshd runs
SSH_SERVER = []   # and that server (local_sshd.Server)


def small_files_over_ssh(command):
    """The same as small_files_synchronous, through a real sshd on 127.0.0.1: each request
    waits for a round trip through ssh, as fora's does."""
    return small_files_synchronous([*SSH, *command])


def median_of(case, command):
    if case in LATENCY_CASES:
        with pinned_to_one_cpu():
            results = [case(command) for _ in range(REPEAT)]
    else:
        results = [case(command) for _ in range(REPEAT)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


# --- the machine's limits ----------------------------------------------------------------------

def pipe_copy_seconds(size):
    """`cat` of `size` bytes through a pipe into /dev/null."""
    return statistics.median(timed(lambda: subprocess.run(f"head -c {size} {BIG_FILE} | cat > /dev/null", shell=True, check=True))
                             for _ in range(REPEAT))


SPAWN_LOOP_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
    int count = atoi(argv[1]);
    char *args[] = {"true", NULL};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < count; i++) {
        pid_t pid; int status;
        if (posix_spawnp(&pid, "true", NULL, NULL, args, environ) != 0) return 1;
        waitpid(pid, &status, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.9f\n", ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9) / count);
    return 0;
}
"""


def spawn_loop_seconds():
    source = os.path.join(WORK, "spawn.c")
    binary = os.path.join(WORK, "spawn")
    with open(source, "w") as handle:
        handle.write(SPAWN_LOOP_C)
    subprocess.run(["cc", "-O2", source, "-o", binary], check=True)
    with pinned_to_one_cpu():
        return statistics.median(float(subprocess.run([binary, "300"], capture_output=True, check=True).stdout) for _ in range(REPEAT))


def openssl_sha512_rate():
    """Bytes per second of `openssl speed -evp sha512` on 16 KiB blocks; None without openssl."""
    if shutil.which("openssl") is None:
        return None
    # The median of REPEAT one-second runs: this VM's clock swings by up to 30% from one
    # second to the next, and one run was enough to make any ratio meaningless.
    rates = []
    for _ in range(REPEAT):
        out = subprocess.run(["openssl", "speed", "-evp", "sha512", "-seconds", "1", "-bytes", "16384"],
                             capture_output=True, text=True).stdout
        rates += [float(line.split()[-1].rstrip("k")) * 1000 for line in out.splitlines() if line.startswith("sha512")]
    return statistics.median(rates) if rates else None


# --- report -----------------------------------------------------------------------------------------

def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


PROCESS_TRUE_AGENT = []


def main():
    if ONLY in ("trees", "sync", "big"):
        return trees_and_sync({ONLY}) if SSH else print(f"{ONLY}: skipped (no sshd)")
    cases = [
        ("spawn → Ack → exit", startup, "per agent"),
        ("CheckAlive sequential", sequential, "per round trip"),
        ("CheckAlive pipelined", pipelined, "per packet"),
        ('ProcessRun ["true"]', process_true, "per run"),
        (f"cat {CAT // MIB} MiB via ProcessRun", cat_through, "total"),
        (f"{BIG // MIB} MiB Upload+Download+Stat", file_round_trip, "total"),
        (f"Stat SHA-512 of {BIG // MIB} MiB", stat_sha512, "total"),
        (f"{SMALL_COUNT} uploads of 4 KiB, pipelined", small_uploads_pipelined, "total"),
        (f"  the same, agent --durable", small_uploads_pipelined_durable, "total; the reference never syncs"),
        (f"{SMALL_COUNT} × (Stat SHA-512, Upload) 4 KiB", small_files_synchronous, "total, waiting for each"),
    ]
    if sshd_available():
        cases.append((f"{SMALL_COUNT} × (Stat, Upload) over sshd", small_files_over_ssh, "total; RSS is ssh's"))
    if IS_ROOT:
        cases += [
            ("Stat, owner without a name", stat_unnamed_owner, "per request"),
            ("QueryUser, 200k groups", query_user_big_groups, "per request"),
            ("QueryGroup, last of 200k groups", query_group_big_groups, "per request"),
        ]
    print(f"machine: {os.cpu_count()} cores, {subprocess.run(['uname', '-srm'], capture_output=True, text=True).stdout.strip()}")
    print(f"agent: {AGENT} ({os.path.getsize(AGENT)} bytes); reference: fora 2.1.7 on {SYSTEM_PYTHON} "
          f"({subprocess.run([SYSTEM_PYTHON, '--version'], capture_output=True, text=True).stdout.strip()})")
    print(f"median of {REPEAT} runs; peak RSS (VmHWM) is the largest of them; "
          f"spawn, sequential and ProcessRun cases run on one CPU\n")
    if ONLY:
        cases = [case for case in cases if ONLY in case[0]]
    header = f"{'case':36} {'agent':>11} {'reference':>11} {'speed-up':>9} {'agent RSS':>10} {'ref RSS':>10}"
    print(header)
    print("-" * len(header))
    for name, case, unit in cases:
        agent_seconds, agent_rss = median_of(case, [AGENT])
        ref_seconds, ref_rss = median_of(case, REFERENCE)
        if case is process_true:
            PROCESS_TRUE_AGENT.append(agent_seconds)
        print(f"{name:36} {fmt_time(agent_seconds):>11} {fmt_time(ref_seconds):>11} {ref_seconds / agent_seconds:>8.1f}x "
              f"{agent_rss / 1024:>7.1f} MiB {ref_rss / 1024:>6.1f} MiB   ({unit})", flush=True)

    if ONLY:
        if "SHA-512" in ONLY:
            sha512_paths()
        if "ControlMaster" in ONLY and SSH:
            reaching_a_host_shared()
        if ONLY in PER_PACKET:
            per_packet_cost()
        return
    print("\nmachine limits")
    pipe = pipe_copy_seconds(CAT)
    print(f"  pipe copy of {CAT // MIB} MiB (head | cat > /dev/null): {fmt_time(pipe)} ({CAT / pipe / 1e9:.2f} GB/s)")
    spawn = spawn_loop_seconds()
    print(f"  C posix_spawnp(\"true\") + waitpid: {fmt_time(spawn)} per run (one CPU, like the latency cases); "
          f"agent's ProcessRun [\"true\"] / this: {PROCESS_TRUE_AGENT[0] / spawn:.2f}x")
    sha512_paths()
    streaming_runs()
    per_packet_cost()
    if SSH:
        reaching_a_host()
        reaching_a_host_shared()
        trees_and_sync({"trees", "sync", "big"} if BIG_TREES else {"trees", "sync"})
    print(f"\nbinary size: {os.path.getsize(AGENT)} bytes")


# --- SHA-512 on each path (issue 13) -------------------------------------------------------

AARCH64_AGENT = os.path.join(os.path.dirname(AGENT), "tunnel-dispatcher-aarch64")


def file_tool_seconds(command):
    subprocess.run(command, capture_output=True, check=True)
    return statistics.median(timed(lambda: subprocess.run(command, capture_output=True, check=True)) for _ in range(REPEAT))


def sha512_paths():
    """Stat with SHA-512 of 256 MiB and 1 GiB for the agent on each kernel, the reference,
    sha512sum and openssl, in one run; then the aarch64 agent under qemu-user (relative only:
    an emulated CPU says nothing of a real one's speed)."""
    openssl = openssl_sha512_rate()
    print("\nSHA-512: Stat with SHA-512 (the whole request), against the tools on the same file")
    print(f"  openssl speed -evp sha512 (16 KiB blocks, in memory, median of {REPEAT} seconds): {openssl / 1e9:.2f} GB/s" if openssl else "  openssl: not installed")
    sizes = [BIG] if QUICK else [BIG, 1024 * MIB]
    for size in sizes:
        path = BIG_FILE
        if size != BIG:
            path = os.path.join(WORK, "hashme-large")
            with open(path, "wb") as handle:
                for _ in range(size // BIG):
                    handle.write(BIG_CONTENT)
        rows = [
            ("agent, best kernel (--debug names it)", median_of(stat_sha512_of(path), [AGENT])[0]),
            ("agent, TUNNEL_SHA512=portable", median_of(stat_sha512_of(path), ["/usr/bin/env", "TUNNEL_SHA512=portable", AGENT])[0]),
            ("reference (Python hashlib)", median_of(stat_sha512_of(path), REFERENCE)[0]),
            ("sha512sum FILE", file_tool_seconds(["sha512sum", path])),
        ]
        if openssl:
            rows.append(("openssl dgst -sha512 FILE", file_tool_seconds(["openssl", "dgst", "-sha512", path])))
        print(f"  {size // MIB} MiB:")
        for name, seconds in rows:
            versus = f"  {size / seconds / openssl:.2f}x openssl speed" if openssl else ""
            print(f"    {name:40} {fmt_time(seconds):>9}  {size / seconds / 1e9:.2f} GB/s{versus}")
        if path != BIG_FILE:
            os.unlink(path)
    qemu = shutil.which("qemu-aarch64-static")
    if qemu and os.path.exists(AARCH64_AGENT):
        size = 64 * MIB
        path = os.path.join(WORK, "hashme-qemu")
        with open(path, "wb") as handle:
            handle.write(BIG_CONTENT[:size])
        print(f"  aarch64 agent under qemu-user {subprocess.run([qemu, '--version'], capture_output=True, text=True).stdout.split(chr(10))[0]}, {size // MIB} MiB (emulated: compare rows, not with the above)")
        base = None
        for name, command in [("-cpu cortex-a53 (no SHA-512 instructions): portable", [qemu, "-cpu", "cortex-a53", AARCH64_AGENT]),
                              ("-cpu max, TUNNEL_SHA512=portable", ["/usr/bin/env", "TUNNEL_SHA512=portable", qemu, "-cpu", "max", AARCH64_AGENT]),
                              ("-cpu max: armv8-sha512 kernel", [qemu, "-cpu", "max", AARCH64_AGENT])]:
            seconds = median_of(stat_sha512_of(path), command)[0]
            base = base or seconds
            print(f"    {name:52} {fmt_time(seconds):>9}  {base / seconds:.2f}x the first row")
        os.unlink(path)


# --- streamed runs (the extensions, issue 12) ----------------------------------------------

SIGNAL_WAITER_C = r"""
#include <signal.h>
#include <unistd.h>
static void got(int sig) { (void)sig; write(1, "got\n", 4); _exit(0); }
int main(void) { signal(SIGINT, got); write(1, "ready\n", 6); for (;;) pause(); }
"""


def streaming_runs():
    """Time to the first output byte, Signal's round trip to a waiting child, and 1 GiB of
    streamed output with the agent's peak RSS. The reference has no streaming: its first
    byte comes with ProcessCompleted."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "conformance"))
    import extensions as x

    def session():
        process = subprocess.Popen([AGENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return process, x.Reader(process.stdout)

    def send(process, data):
        process.stdin.write(data)
        process.stdin.flush()

    def finish(process, reader):
        while reader.answer()[0] != "RunFinished":
            pass
        process.stdin.close()
        process.wait()

    script = ["sh", "-c", "echo a; sleep 2; echo b"]
    first_bytes = []
    for _ in range(REPEAT):
        process, reader = session()
        start = time.perf_counter()
        send(process, x.run_ex(script, stream=True))
        reader.answer()
        first_bytes.append(time.perf_counter() - start)
        finish(process, reader)
    reference = Session(REFERENCE)
    start = time.perf_counter()
    reference.request(td.PacketProcessRun(command=script, stdin=None, capture_output=True, user=None, group=None,
                                          umask=None, cwd=None))
    reference_first = time.perf_counter() - start
    reference.finish()

    waiter = os.path.join(WORK, "signal-waiter")
    with open(waiter + ".c", "w") as handle:
        handle.write(SIGNAL_WAITER_C)
    subprocess.run(["cc", "-O2", waiter + ".c", "-o", waiter], check=True)
    latencies = []
    for _ in range(20 if QUICK else 100):
        process, reader = session()
        send(process, x.run_ex([waiter], stream=True))
        reader.answer()                      # "ready"
        start = time.perf_counter()
        send(process, x.signal(2))
        reader.answer()                      # "got"
        latencies.append(time.perf_counter() - start)
        finish(process, reader)

    size = 1 << 30
    process, reader = session()
    start = time.perf_counter()
    send(process, x.run_ex(["head", "-c", str(size), "/dev/zero"], stream=True))
    received = 0
    while True:
        name, fields = reader.answer()
        if name == "RunFinished":
            break
        received += len(fields["data"])
    seconds = time.perf_counter() - start
    with open(f"/proc/{process.pid}/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    process.stdin.close()
    process.wait()
    print("\nstreamed runs (RunEx)")
    print(f"  first output byte of sh -c 'echo a; sleep 2; echo b': agent {fmt_time(statistics.median(first_bytes))}; "
          f"reference (captured, its only way) {fmt_time(reference_first)}")
    print(f"  Signal(SIGINT) to a child waiting in pause(), until its answer arrives: median "
          f"{fmt_time(statistics.median(latencies))}, max {fmt_time(max(latencies))}")
    print(f"  1 GiB streamed: {fmt_time(seconds)} ({received / seconds / 1e9:.2f} GB/s), agent peak RSS "
          f"{peak / 1024:.1f} MiB")


# --- the session's cost per packet, against a recorded build (issue 21) ---------------------

PER_PACKET = "per-packet cost"
BASELINE_COMMIT = "6a0d621"


def baseline_agent():
    """6a0d621's agent (before Session grew its hooks), built now from `git archive` with the
    same compiler and flags into a temporary folder; None when this is not a git checkout."""
    repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    archive = subprocess.run(["git", "-C", repo, "archive", BASELINE_COMMIT], capture_output=True)
    if archive.returncode != 0:
        return None
    root = os.path.join(WORK, "baseline")
    os.makedirs(root, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    subprocess.run([os.path.join(root, "scripts", "build-static.sh"), "x86_64"], cwd=root, capture_output=True,
                   check=True)
    return os.path.join(root, "dist", "tunnel-dispatcher")


def per_packet_cost():
    """2,000,000 pipelined CheckAlive from a file, to /dev/null: this agent against 6a0d621's,
    run alternately in the same run, as a ratio (an absolute time says little on a shared VM)."""
    count = 2_000_000
    baseline = baseline_agent()
    print(f"\nsession {PER_PACKET}: {count:,} pipelined CheckAlive from a file")
    if baseline is None:
        print(f"  skipped: no git history to build {BASELINE_COMMIT}'s agent from")
        return
    packets = os.path.join(WORK, "check-alive")
    with open(packets, "wb") as handle:
        handle.write(encode(td.PacketCheckAlive()) * count)

    def seconds(agent):
        with open(packets, "rb") as source:
            start = time.perf_counter()
            subprocess.run([agent], stdin=source, stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start

    # Each run is ~0.1 s, and a shared VM swings that by a third: three times the usual count.
    runs = 3 * REPEAT
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(seconds(AGENT))
        theirs.append(seconds(baseline))
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"  this agent {fmt_time(statistics.median(ours))} ({statistics.median(ours) / count * 1e9:.0f} ns per packet), "
          f"{BASELINE_COMMIT}'s {fmt_time(statistics.median(theirs))}: ratio {ratio:.2f} "
          f"(median of {runs}, alternated; at most 1.00 is the goal)")


# --- reaching a host (issue 10) ---------------------------------------------------------------

TUNNEL = os.path.join(os.path.dirname(AGENT), "tunnel")


def fora_ssh_connector_round_trip(server):
    """fora's own ssh connector: its command (python3 on the host, the dispatcher inline as
    base64), then CheckAlive and Exit, as its open() and close() do."""
    import fora
    from fora.connectors.ssh import SshConnector

    class Args:
        debug = False

    class Host:
        ssh_opts = ["-i", str(server.key), "-p", str(server.port), "-o", "BatchMode=yes",
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]

    fora.args = Args()
    command = SshConnector("ssh://root@127.0.0.1", Host()).command()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    connection = td.Connection(process.stdout, process.stdin)
    connection.write_packet(td.PacketCheckAlive())
    assert isinstance(td.receive_packet(connection), td.PacketAck)
    connection.write_packet(td.PacketExit())
    process.stdin.close()
    process.wait()


def reaching_a_host():
    """`ssh host true` beside `tunnel --ssh host ping` (cached, and with an empty cache) and
    fora's own ssh connector, through the bench's sshd on 127.0.0.1."""
    if not os.path.exists(TUNNEL):
        print(f"\nreaching a host: skipped ({TUNNEL} missing: make client)")
        return
    server = SSH_SERVER[0]
    ping = [TUNNEL, "--ssh", f"root@127.0.0.1:{server.port}", *[word for option in server.options
                                                                 for word in ("--ssh-option", option)], "-v", "ping"]
    environment = dict(os.environ, TUNNEL_AGENT_DIR=os.path.dirname(AGENT))
    first = subprocess.run(ping, capture_output=True, text=True, env=environment, check=True)
    cached_copy = first.stderr.strip().split("agent: ")[-1]

    def cached():
        subprocess.run(ping, capture_output=True, env=environment, check=True)

    def empty_cache():
        if os.path.exists(cached_copy):
            os.unlink(cached_copy)
        subprocess.run(ping, capture_output=True, env=environment, check=True)

    count = 5 if QUICK else 20
    rows = [("ssh host true", lambda: subprocess.run([*SSH, "true"], check=True)),
            ("tunnel --ssh host ping, cached", cached),
            ("tunnel --ssh host ping, empty cache", empty_cache),
            ("fora's ssh connector, open + close", lambda: fora_ssh_connector_round_trip(server))]
    print(f"\nreaching a host through sshd on 127.0.0.1 (median of {count})")
    baseline = None
    for name, action in rows:
        seconds = statistics.median(timed(action) for _ in range(count))
        baseline = baseline or seconds
        print(f"  {name:38} {fmt_time(seconds):>10}   {seconds / baseline:.2f}x ssh", flush=True)


def cpu_seconds_under(pids):
    """CPU time so far of the processes `pids` and of every process under them, with what
    their reaped children used (utime, stime, cutime and cstime from /proc)."""
    children, used = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue   # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = sum(int(value) for value in fields[11:15])
    total, pending = 0, list(pids)
    while pending:
        pid = pending.pop()
        total += used.get(pid, 0)
        pending += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


BENCH_ACCOUNT = "tunnel-bench"


@contextlib.contextmanager
def quiet_account():
    """An account whose login shell is /bin/sh, with a home of its own in /tmp: root's
    startup files may be anything (this VM's ~/.bashrc, which bash reads under sshd, costs
    ~100 ms of CPU), and ssh host true should cost what ssh does. Removed afterwards if made here."""
    home = tempfile.mkdtemp(prefix="tunnel-bench-home-")
    try:
        pwd.getpwnam(BENCH_ACCOUNT)
        made = False
    except KeyError:
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", BENCH_ACCOUNT], check=True)
        made = True
    # No password, but not locked ("!"), which sshd would refuse even with a key.
    subprocess.run(["usermod", "-p", "*", "-d", home, "-s", "/bin/sh", BENCH_ACCOUNT], check=True)
    account = pwd.getpwnam(BENCH_ACCOUNT)
    os.chown(home, account.pw_uid, account.pw_gid)
    try:
        yield BENCH_ACCOUNT
    finally:
        if made:
            subprocess.run(["userdel", BENCH_ACCOUNT], check=True)
        shutil.rmtree(home)


def reaching_a_host_shared():
    """Through one shared ssh connection (ControlMaster), as a fleet tool keeps it: what
    `tunnel run -- true` costs beyond `ssh host true`, both timed in this run. The agent is
    cached on the host; this is the bootstrap's fast path and the client's start (issue 20).
    Wall time, and CPU time: this VM's load drowns a few ms of wall time, but not the CPU
    that every process of a start used (the client and its ssh, which this process reaps;
    the master ssh; sshd and everything under it on the target side)."""
    if not os.path.exists(TUNNEL):
        print(f"\nControlMaster: skipped ({TUNNEL} missing: make client)")
        return
    with quiet_account() as account:
        shared_connection(SSH_SERVER[0], account)


def shared_connection(server, account):
    shared = [f"ControlPath={WORK}/control-%C", "ControlMaster=auto", "ControlPersist=120"]
    prefix = server.command(account)
    ssh = [*prefix[:-1], *[word for option in shared for word in ("-o", option)], prefix[-1]]
    arguments = ["--ssh", f"{account}@127.0.0.1:{server.port}",
                 *[word for option in server.options + shared for word in ("--ssh-option", option)], "run", "--", "true"]
    environment = dict(os.environ, TUNNEL_AGENT_DIR=os.path.dirname(AGENT))
    rows = {"ssh host true": [*ssh, "true"], "tunnel run -- true, cached agent": [TUNNEL, *arguments]}
    if ALSO_TUNNEL:
        rows[f"the same, {ALSO_TUNNEL}"] = [ALSO_TUNNEL, *arguments]
    subprocess.run([*ssh, "true"], check=True)                              # opens the master
    subprocess.run(rows["tunnel run -- true, cached agent"], capture_output=True, env=environment, check=True)  # caches the agent
    check = subprocess.run([*ssh[:-1], "-O", "check", ssh[-1]], capture_output=True, text=True).stderr
    master = int(check.split("pid=")[1].split(")")[0])
    with open(server.key.parent / "sshd.pid") as file:
        sshd = int(file.read())

    def cpu_seconds():
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + cpu_seconds_under([master, sshd])

    count = 20 if QUICK else 100
    times = {name: [] for name in rows}
    cpu = {name: 0.0 for name in rows}
    try:
        # Interleaved, so that all see the same machine (this VM's speed drifts).
        for _ in range(count):
            for name, command in rows.items():
                before = cpu_seconds()
                times[name].append(timed(lambda: subprocess.run(command, env=environment, check=True)))
                cpu[name] += cpu_seconds() - before
    finally:
        subprocess.run([*ssh[:-1], "-O", "exit", ssh[-1]], capture_output=True)
    print(f"\nthrough a shared ssh connection (ControlMaster, as {account} with /bin/sh; interleaved {count} times: "
          f"wall time's median, CPU time's mean over every process)")
    ssh_seconds, ssh_cpu = statistics.median(times["ssh host true"]), cpu["ssh host true"] / count
    for name in rows:
        seconds, used = statistics.median(times[name]), cpu[name] / count
        above = "" if name == "ssh host true" else f"   (+{fmt_time(seconds - ssh_seconds)} wall, +{fmt_time(used - ssh_cpu)} CPU)"
        print(f"  {name:38} {fmt_time(seconds):>10}   {seconds / ssh_seconds:.2f}x ssh   CPU {fmt_time(used):>10}{above}",
              flush=True)


# --- trees and sync over sshd (issue 22): scripts/bench_trees.py ------------------------------

def trees_and_sync(which):
    """`which`: a set of "trees", "sync" and "big" (the last only with --big or --only big)."""
    bench_trees.run(which, SSH_SERVER[0], AGENT, TUNNEL, WORK, QUICK)


try:
    if sshd_available():
        with local_sshd() as server:
            SSH.extend(server.command())
            SSH_SERVER.append(server)
            main()
    else:
        main()
finally:
    shutil.rmtree(WORK, ignore_errors=True)

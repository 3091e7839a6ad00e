"""The tree and sync cases of `make bench` (issue 22): `tunnel upload -r`/`download -r` and
`tunnel sync` beside `rsync -a` and `scp -r`, all through the bench's own sshd on 127.0.0.1,
in one run, interleaved, so that ratios to rsync -a mean something on a shared machine.

Trees: 1000 files of 4 KiB in 20 folders, and a snapshot of /usr/share/doc (copied once into
the bench's work folder, so that every tool reads the same bytes and the 10 changed files can
be rewritten). With `--big`: 100,000 files of 1 KiB and 1,000,000 empty files, each measured
once, with the peak RSS of both sides (see `PeakRss`).

Used by scripts/bench.py (`--only trees`, `--only sync`, `--only big`, `--big`)."""
import os
import shlex
import shutil
import stat
import statistics
import subprocess
import time

DOC = "/usr/share/doc"
SMALL_FILES, SMALL_FOLDERS, SMALL_SIZE = 1000, 20, 4096
STEPS = ("initial", "unchanged", "10 changed")


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def fmt_time(seconds):
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_kib(kib):
    return f"{kib / 1024:.1f} MiB"


def fmt_peaks(peaks):
    own, tree = peaks
    return f"{fmt_kib(own):>9} ({fmt_kib(tree)})"


# Peak RSS, two ways, by one tiny static wrapper that runs the measured process:
# - "own": VmHWM of /proc/PID/status at the process's exit (ptrace's PTRACE_EVENT_EXIT stops it
#   there, before its memory goes): that process alone, whoever started it.
# - "tree": wait4()'s ru_maxrss, the largest of the process and the children it waited for
#   (for rsync: its other processes and its ssh; for tunnel: its ssh). It also holds what the
#   kernel folds in at exec, the spawner's high-water mark, which is why a process is never
#   measured as a direct child of the ~100 MiB Python driver: the wrapper's pages are the floor.
PEAK_RSS_C = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
/* peak-rss OUT COMMAND...: runs COMMAND (inheriting fds 0-2), writes "OWN TREE CPU" to OUT
   (OWN: VmHWM in KiB read when it exits; TREE: wait4's ru_maxrss in KiB; CPU: user and system
   microseconds of COMMAND and the children it waited for), exits with COMMAND's status.
   Signals stopping COMMAND under ptrace are passed on unchanged. */
static long vm_hwm(pid_t pid) {
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *status = fopen(path, "r");
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = atol(line + 6);
    if (status) fclose(status);
    return kib;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status, execed = 0;
    long own = -1;
    struct rusage usage;
    for (;;) {
        if (wait4(pid, &status, 0, &usage) < 0) { perror("wait4"); return 1; }
        if (WIFEXITED(status) || WIFSIGNALED(status)) break;
        int signal = WSTOPSIG(status), deliver = 0;
        if (signal == SIGTRAP && (status >> 16) == PTRACE_EVENT_EXIT) own = vm_hwm(pid);
        else if (signal == SIGTRAP && (status >> 16) == PTRACE_EVENT_EXEC) own = -1;   /* a script's exec */
        else if (signal == SIGTRAP && !execed) {
            execed = 1;
            ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC));
        } else deliver = signal;
        ptrace(PTRACE_CONT, pid, NULL, (void *)(long)deliver);
    }
    FILE *out = fopen(argv[1], "w");
    long cpu = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000L + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
    if (out == NULL || fprintf(out, "%ld %ld %ld\n", own, usage.ru_maxrss, cpu) < 0 || fclose(out) != 0) { perror(argv[1]); return 1; }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
"""


class PeakRss:
    """The wrapper, compiled once, and where each measured side writes its figure."""

    def __init__(self, work):
        self.work = work
        self.binary = os.path.join(work, "peak-rss")
        with open(self.binary + ".c", "w") as source:
            source.write(PEAK_RSS_C)
        subprocess.run(["cc", "-O2", "-static", self.binary + ".c", "-o", self.binary], check=True)
        # The wrapper measuring itself (it ends at once without arguments): what it folds in.
        subprocess.run(self.wrap("local", [self.binary]))
        self.floor = self.read("local")

    def output(self, side):
        path = os.path.join(self.work, f"peak-{side}")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def wrap(self, side, command):
        """`command` (a list) run under the wrapper, writing to the file of `side`."""
        return [self.binary, self.output(side), *command]

    def read(self, side):
        """(own, tree) peak RSS in KiB of the last process measured on `side`."""
        return self.read_all(side)[:2]

    def cpu(self, side):
        """Seconds of CPU of the last process measured on `side` and its waited-for children."""
        return self.read_all(side)[2] / 1e6

    def read_all(self, side):
        path = os.path.join(self.work, f"peak-{side}")
        with open(path) as file:
            return [int(word) for word in file.read().split()]

    def measure(self, command, **kw):
        """(seconds, (own, tree) peak KiB) of `command` run under the wrapper."""
        seconds = timed(lambda: subprocess.run(self.wrap("local", command), check=True, **kw))
        return seconds, self.read("local")


class Route:
    """How each tool reaches the bench's sshd."""

    def __init__(self, server, agent, tunnel, work):
        self.server = server
        self.agent = agent
        self.work = work
        self.host = "root@127.0.0.1"
        ssh_words = [word for option in server.options for word in ("-o", option)]
        self.tunnel = [tunnel, "--ssh", f"{self.host}:{server.port}",
                       *[word for option in server.options for word in ("--ssh-option", option)]]
        self.environment = dict(os.environ, TUNNEL_AGENT_DIR=os.path.dirname(agent))
        self.rsh = shlex.join(["ssh", "-q", "-p", str(server.port), *ssh_words])
        self.scp = ["scp", "-q", "-r", "-P", str(server.port), *ssh_words]
        self.tunnel_binary = tunnel
        self.set_aside = SetAside(work)

    def tunnel_via_wrapped_agent(self, peak):
        """`tunnel --via "ssh ... peak-rss OUT AGENT"`: the same client and the same sshd, the
        agent started by the wrapper (the target is this machine, so its paths are ours)."""
        remote = shlex.join(peak.wrap("remote", [self.agent]))
        return [self.tunnel_binary, "--via", shlex.join([*self.server.command(), remote])]

    def rsync_path_wrapped(self, peak):
        return shlex.join(peak.wrap("remote", ["rsync"]))

    def run(self, command, check=True):
        subprocess.run(command, env=self.environment, check=check, stdout=subprocess.DEVNULL,
                       stderr=None if check else subprocess.DEVNULL)


# --- the trees -------------------------------------------------------------------------------

def write_file(path, size):
    with open(path, "wb") as file:
        file.write(os.urandom(size))


def small_tree(work):
    """1000 files of 4 KiB in 20 folders."""
    root = os.path.join(work, "tree-src")
    if not os.path.isdir(root):
        for index in range(SMALL_FILES):
            folder = os.path.join(root, f"folder-{index % SMALL_FOLDERS:02}")
            os.makedirs(folder, exist_ok=True)
            write_file(os.path.join(folder, f"file-{index:04}"), SMALL_SIZE)
    return root


def doc_snapshot(work):
    """/usr/share/doc copied (cp -a: links stay links) into the work folder: a fixed set of
    bytes for every tool and run, and one this bench may rewrite files of."""
    root = os.path.join(work, "doc")
    if not os.path.isdir(root):
        subprocess.run(["cp", "-a", DOC, root], check=True)
    return root


def describe(root):
    """'N files, M folders, K links, S MB' of a tree (below its top; a link to a folder is a link)."""
    files = folders = links = size = 0
    for top, names, files_here in os.walk(root):
        for name in names + files_here:
            status = os.lstat(os.path.join(top, name))
            if stat.S_ISLNK(status.st_mode):
                links += 1
            elif stat.S_ISDIR(status.st_mode):
                folders += 1
            else:
                files += 1
                size += status.st_size
    return f"{files:,} files, {folders:,} folders, {links:,} links, {size / 1e6:.0f} MB"


def ten_files(root):
    """Ten regular, non-empty files spread over the tree (the same ones every time)."""
    candidates = sorted(os.path.join(top, name) for top, _, names in os.walk(root) for name in names
                        if os.path.isfile(os.path.join(top, name)) and not os.path.islink(os.path.join(top, name))
                        and os.path.getsize(os.path.join(top, name)) > 0)
    return [candidates[index * len(candidates) // 10] for index in range(10)]


def rewrite(paths):
    """New random bytes of the same size: only the mtime tells rsync's quick check."""
    for path in paths:
        write_file(path, os.path.getsize(path))


def same_tree(a, b):
    """diff -r that compares links as links (a copy of /usr/share/doc has dangling ones)."""
    return subprocess.run(["diff", "-r", "--no-dereference", a, b], capture_output=True).returncode == 0


def only_child(folder):
    names = os.listdir(folder)
    assert len(names) == 1, (folder, names)
    return os.path.join(folder, names[0])


# --- initial copies: upload -r / download -r, rsync -a, scp -r -------------------------------

def initial_copies(route, label, source, count):
    """Each tool copies `source` into a fresh folder, pushing then pulling, interleaved."""
    destination = os.path.join(route.work, "copy-dest")
    host = route.host

    def fresh():
        route.set_aside(destination)
        os.makedirs(destination)
        return destination

    # scp -r follows symlinks (a link to a folder becomes a copy, a dangling one an error):
    # its exit status and its copy are not checked when the tree has links.
    has_links = any(os.path.islink(os.path.join(top, name)) for top, folders, files in os.walk(source)
                    for name in folders + files)
    rows = {
        "push": [("tunnel upload -r", lambda d: [*route.tunnel, "upload", "-r", source, d]),
                 ("rsync -a", lambda d: ["rsync", "-a", "-e", route.rsh, source, f"{host}:{d}/"]),
                 ("scp -r", lambda d: [*route.scp, source, f"{host}:{d}/"])],
        "pull": [("tunnel download -r", lambda d: [*route.tunnel, "download", "-r", source, d]),
                 ("rsync -a", lambda d: ["rsync", "-a", "-e", route.rsh, f"{host}:{source}", f"{d}/"]),
                 ("scp -r", lambda d: [*route.scp, f"{host}:{source}", f"{d}/"])],
    }
    print(f"\n{label}, initial copy into a fresh folder (median of {count}, interleaved)")
    for direction, tools in rows.items():
        times = {name: [] for name, _ in tools}
        for _ in range(count):
            for name, command in tools:
                target = fresh()
                checked = not (name == "scp -r" and has_links)
                times[name].append(timed(lambda: route.run(command(target), check=checked)))
                assert not checked or same_tree(source, only_child(target)), (name, direction)
        baseline = statistics.median(times["rsync -a"])
        for name, _ in tools:
            seconds = statistics.median(times[name])
            note = "   (follows links: not the same copy)" if name == "scp -r" and has_links else ""
            print(f"  {direction} {name:20} {fmt_time(seconds):>9}   {seconds / baseline:.2f}x rsync -a{note}", flush=True)
    route.set_aside(destination)


# --- sync: initial, nothing changed, 10 files changed ----------------------------------------

def sync_steps(route, label, source, count):
    """`tunnel sync` beside `rsync -a`, pushing then pulling: an initial copy, again with
    nothing changed, then with 10 files rewritten; each tool keeps its destination through
    the three steps, and the destination is checked against the source after them."""
    host = route.host
    changed = ten_files(source)
    for direction in ("push", "pull"):
        if direction == "push":
            tools = {"tunnel sync": lambda d: [*route.tunnel, "sync", source + "/", f":{d}"],
                     "rsync -a": lambda d: ["rsync", "-a", "-e", route.rsh, source + "/", f"{host}:{d}/"]}
        else:
            tools = {"tunnel sync": lambda d: [*route.tunnel, "sync", f":{source}/", d],
                     "rsync -a": lambda d: ["rsync", "-a", "-e", route.rsh, f"{host}:{source}/", f"{d}/"]}
        times = {(tool, step): [] for tool in tools for step in STEPS}
        for _ in range(count):
            for tool, command in tools.items():
                destination = os.path.join(route.work, "sync-" + tool.replace(" ", "-"))
                route.set_aside(destination)
                for step in STEPS:
                    if step == "10 changed":
                        rewrite(changed)
                    times[(tool, step)].append(timed(lambda: route.run(command(destination))))
                assert same_tree(source, destination), (tool, direction)
                route.set_aside(destination)
        print(f"\nsync {direction}, {label} (median of {count}, interleaved)")
        for step in STEPS:
            baseline = statistics.median(times[("rsync -a", step)])
            for tool in tools:
                seconds = statistics.median(times[(tool, step)])
                print(f"  {step:10} {tool:12} {fmt_time(seconds):>9}   {seconds / baseline:.2f}x rsync -a", flush=True)


# --- big trees: time and peak RSS of both sides ------------------------------------------------

def big_tree(work, name, files, folders, size):
    """`files` files of `size` bytes in `folders` folders, written with os.open (1M entries
    take ~20 s this way)."""
    root = os.path.join(work, name)
    content = os.urandom(size)
    for index in range(folders):
        os.makedirs(os.path.join(root, f"d{index:04}"))
    for index in range(files):
        path = os.path.join(root, f"d{index % folders:04}", f"f{index:07}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if size:
            os.write(fd, content)
        os.close(fd)
    return root


def remove_tree(path):
    """rm -rf: shutil.rmtree takes minutes over a million entries on this VM."""
    subprocess.run(["rm", "-rf", "--", path], check=True)


class SetAside:
    """Trees the bench is done with, moved out of the way (a rename) and removed at the end
    of the run, not between the timed copies. On a file system without a journal (this VM's
    ext4), the kernel will not reuse an inode freed in the last 1 to 6 minutes
    (`recently_deleted` in fs/ext4/ialloc.c), and each new inode's search reads past every
    such one: right after a tree of 5,000 entries is removed, making the next one costs
    seconds of CPU in `find_inode_bit` (perf: 93% of a `download -r`'s time), in whichever
    tool happens to run next. Removing them at the end keeps that out of the figures."""

    def __init__(self, work):
        self.folder = os.path.join(work, "set-aside")
        self.count = 0

    def __call__(self, path):
        if os.path.lexists(path):
            os.makedirs(self.folder, exist_ok=True)
            self.count += 1
            os.rename(path, os.path.join(self.folder, str(self.count)))

    def remove_all(self):
        if os.path.lexists(self.folder):
            remove_tree(self.folder)


def load():
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def measured_row(route, peak, name, tunnel_words, rsync_words):
    """One run each of tunnel (through --via and the wrapper) and rsync (--rsync-path under
    the wrapper): time, the local process's peak RSS and the remote one's, and the CPU time
    of both (local: with its ssh)."""
    results = []
    for tool, command in (("tunnel", [*route.tunnel_via_wrapped_agent(peak), *tunnel_words]),
                          ("rsync -a", ["rsync", "-e", route.rsh, "--rsync-path", route.rsync_path_wrapped(peak),
                                        *rsync_words])):
        seconds, local = peak.measure(command, env=route.environment, stdout=subprocess.DEVNULL)
        cpu = (peak.cpu("local"), peak.cpu("remote"))
        results.append((tool, seconds, local, peak.read("remote"), cpu))
    baseline = results[1][1]
    for tool, seconds, local, remote, cpu in results:
        print(f"  {name:32} {tool:8} {fmt_time(seconds):>9} {seconds / baseline:5.2f}x   "
              f"local {fmt_peaks(local):>20}   remote {fmt_peaks(remote):>20}   "
              f"CPU {fmt_time(cpu[0])} + {fmt_time(cpu[1])}   load {load()}", flush=True)


def big_cases(route):
    """100,000 files of 1 KiB (copies both ways, then again with nothing changed) and
    1,000,000 empty files (a sync of the tree onto itself: both sides walk every entry and
    nothing changes), each once. "local" is the client (tunnel, or the rsync that was run),
    "remote" the agent (or the rsync that sshd ran)."""
    peak = PeakRss(route.work)
    print(f"\nbig trees through sshd on 127.0.0.1, each run once; tunnel through --via, its agent under the "
          f"wrapper; peak RSS: the process's own VmHWM at exit (and wait4's, with the children it waited "
          f"for: ssh, rsync's own; wrapper's floor {fmt_peaks(peak.floor)})")
    host = route.host
    hundred_k = big_tree(route.work, "big-100k", 100_000, 100, 1024)
    push, pull = os.path.join(route.work, "big-push"), os.path.join(route.work, "big-pull")
    print(f"  100,000 files of 1 KiB in 100 folders (load before: {load()})")
    for destination in (push, pull):
        route.set_aside(destination)
    rows = [
        ("push, initial", ["sync", hundred_k + "/", f":{push}-t"], ["-a", hundred_k + "/", f"{host}:{push}-r/"]),
        ("push, nothing changed", ["sync", hundred_k + "/", f":{push}-t"], ["-a", hundred_k + "/", f"{host}:{push}-r/"]),
        ("pull, initial", ["sync", f":{hundred_k}/", f"{pull}-t"], ["-a", f"{host}:{hundred_k}/", f"{pull}-r/"]),
        ("pull, nothing changed", ["sync", f":{hundred_k}/", f"{pull}-t"], ["-a", f"{host}:{hundred_k}/", f"{pull}-r/"]),
    ]
    for name, tunnel_words, rsync_words in rows:
        measured_row(route, peak, name, tunnel_words, rsync_words)
    for copy in (f"{push}-t", f"{push}-r", f"{pull}-t", f"{pull}-r"):
        assert same_tree(hundred_k, copy), copy
        route.set_aside(copy)
    onto_itself(route, peak, hundred_k, "100k")
    remove_tree(hundred_k)
    start = time.perf_counter()
    million = big_tree(route.work, "big-1m", 1_000_000, 1000, 0)
    print(f"  1,000,000 empty files in 1000 folders (written in {fmt_time(time.perf_counter() - start)}, "
          f"load {load()})")
    onto_itself(route, peak, million, "1M")
    remove_tree(million)


def onto_itself(route, peak, root, label):
    """A sync of `root` onto itself: the same entries on both sides, nothing to change, so
    each side walks (or lists) the whole tree: what a sync costs with nothing changed."""
    host = route.host
    measured_row(route, peak, f"{label}: push -n onto itself", ["sync", "-n", root + "/", f":{root}"],
                 ["-an", root + "/", f"{host}:{root}/"])
    measured_row(route, peak, f"{label}: pull onto itself", ["sync", f":{root}/", root],
                 ["-a", f"{host}:{root}/", f"{root}/"])


# --- entry -------------------------------------------------------------------------------------

def run(which, server, agent, tunnel, work, quick):
    """`which`: a set of "trees", "sync", "big"."""
    if not os.path.exists(tunnel) or not shutil.which("rsync"):
        print("\ntrees and sync: skipped (needs make client and rsync: scripts/setup.sh)")
        return
    route = Route(server, agent, tunnel, work)
    subprocess.run([*route.tunnel, "ping"], env=route.environment, check=True, capture_output=True)  # agent cached
    count = 3 if quick else 5
    try:
        run_cases(which, route, work, count)
    finally:
        route.set_aside.remove_all()


def run_cases(which, route, work, count):
    if which & {"trees", "sync"}:
        trees = [(f"{SMALL_FILES} files of {SMALL_SIZE // 1024} KiB in {SMALL_FOLDERS} folders", small_tree(work))]
        if os.path.isdir(DOC):
            snapshot = doc_snapshot(work)
            trees.append((f"a copy of {DOC} ({describe(snapshot)})", snapshot))
        else:
            print(f"\n{DOC}: missing, its cases skipped")
        print(f"\ntrees and sync through sshd on 127.0.0.1 (load average {load()})")
        for label, root in trees:
            if "trees" in which:
                initial_copies(route, label, root, count)
            if "sync" in which:
                sync_steps(route, label, root, count)
    if "big" in which:
        big_cases(route)

// _GNU_SOURCE only here (never in the header): O_TMPFILE, O_PATH, AT_EMPTY_PATH, pipe2,
// setresuid, initgroups.
#define _GNU_SOURCE
#include "tunnel_posix.h"
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

extern char **environ;

int tp_errno(void) { return errno; }
void tp_set_errno(int value) { errno = value; }

int tp_openat(int dirfd, const char *path, int flags, unsigned int mode) {
    return openat(dirfd, path, flags, (mode_t)mode);
}

int tp_open_tmpfile(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    return memfd_create("tunnel-spool", MFD_CLOEXEC);
}

int tp_open_unnamed_at(int dirfd, unsigned int mode) {
    return openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, (mode_t)mode);
}

int tp_link_unnamed_at(int fd, int dirfd, const char *name) {
    if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno != EPERM && errno != ENOENT && errno != EINVAL) return -1;
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc_path, dirfd, name, AT_SYMLINK_FOLLOW);
}

int tp_rename_noreplace_at(int from_dirfd, const char *from, int to_dirfd, const char *to) {
    return (int)syscall(SYS_renameat2, from_dirfd, from, to_dirfd, to, 1U /* RENAME_NOREPLACE */);
}

// fchmodat2 (Linux 6.6) takes AT_SYMLINK_NOFOLLOW itself; its number is the same on every
// architecture, and musl's headers may be older than it.
#define TP_SYS_fchmodat2 452

int tp_chmod_nofollow_at(int dirfd, const char *name, unsigned int mode) {
    if (syscall(TP_SYS_fchmodat2, dirfd, name, (mode_t)mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
    // ENOSYS: an older kernel. EPERM too, since some seccomp profiles answer that for system
    // calls newer than themselves; the ways below find the real EPERM again.
    if (errno != ENOSYS && errno != EPERM) return -1;
    int path_fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (path_fd < 0) return -1;
    struct stat found;
    if (fstat(path_fd, &found) != 0) {
        close(path_fd);
        return -1;
    }
    close(path_fd);
    if (S_ISLNK(found.st_mode)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    // A file or folder opened for reading can be chmod'ed through its descriptor; other kinds
    // are never opened (a device may act on open), and neither is what cannot be read: those
    // go through the C library (through /proc, when there is one).
    if (S_ISREG(found.st_mode) || S_ISDIR(found.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat opened;
            // The same file as the one looked at: nothing was swapped in between.
            int result = fstat(fd, &opened) == 0 && opened.st_dev == found.st_dev && opened.st_ino == found.st_ino
                ? fchmod(fd, (mode_t)mode) : (errno = EAGAIN, -1);
            int saved = errno;
            close(fd);
            errno = saved;
            return result;
        }
    }
    return fchmodat(dirfd, name, (mode_t)mode, AT_SYMLINK_NOFOLLOW);
}

void tp_start_writeback(int fd) {
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

const int TP_O_PATH = O_PATH;
const long TP_UTIME_OMIT = UTIME_OMIT;
const int TP_O_NOFOLLOW = O_NOFOLLOW;
const int TP_O_DIRECTORY = O_DIRECTORY;
const int TP_AT_SYMLINK_NOFOLLOW = AT_SYMLINK_NOFOLLOW;

int tp_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

long tp_dir_read(int fd, void *buffer, unsigned long size) {
    return syscall(SYS_getdents64, fd, buffer, size);
}

// The kernel's linux_dirent64 (linux/dirent.h, which the sysroots lack); records are
// 8-aligned in a buffer that is.
struct tp_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int tp_dir_next(const void *buffer, unsigned long *position, unsigned long end, const char **name,
                unsigned char *type) {
    while (*position < end) {
        const struct tp_dirent64 *entry = (const struct tp_dirent64 *)((const char *)buffer + *position);
        // The kernel's records are whole and never empty; one that is not would loop or
        // read past `end`: the rest of the buffer is dropped instead.
        if (end - *position < sizeof(struct tp_dirent64) || entry->d_reclen < sizeof(struct tp_dirent64) ||
            entry->d_reclen > end - *position) {
            *position = end;
            return 0;
        }
        *position += entry->d_reclen;
        const char *n = entry->d_name;
        if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
        *name = n;
        *type = entry->d_type;
        return 1;
    }
    return 0;
}

int tp_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

void tp_grow_pipe(int fd) {
    struct stat info;
    if (fstat(fd, &info) == 0 && S_ISFIFO(info.st_mode)) fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

// A signal that kills the agent mid-upload must not leave a named temporary behind: the
// handler unlinks it (async-signal-safe) and dies of the same signal with the default action.
// (Unnamed temporaries need none of this; SIGKILL cannot be caught at all.)
static char temporary_name[NAME_MAX + 1];
static volatile sig_atomic_t temporary_dirfd = -1;
// The running command's pid, which is also its process group (0: none).
static volatile sig_atomic_t running_child = 0;

// A signal that ends the agent is passed on to the running command's process group first:
// the command has a group of its own (so that a vanished client can end it), and would
// otherwise not get the Ctrl-C a terminal sends to the agent's group.
static void clean_up_and_die(int sig) {
    if (running_child > 0) kill(-running_child, sig);
    if (temporary_dirfd >= 0) unlinkat(temporary_dirfd, temporary_name, 0);
    signal(sig, SIG_DFL);
    raise(sig);
}

void tp_set_running_child(pid_t pid) { running_child = pid; }

/// Every signal whose default action ends the process, except those the agent ignores.
static const int fatal_signals[] = {
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT, SIGXCPU, SIGVTALRM, SIGPROF, SIGPOLL, SIGPWR, SIGSYS,
};

/// Installs `clean_up_and_die` for `sig`, unless the agent was started with it ignored
/// (nohup, CI runners): then it stays ignored.
static void install_clean_up(int sig) {
    struct sigaction action, old;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
    memset(&action, 0, sizeof action);
    action.sa_handler = clean_up_and_die;
    sigfillset(&action.sa_mask);
    sigaction(sig, &action, NULL);
}

void tp_install_signal_dispositions(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, NULL);
    sigaction(SIGXFSZ, &action, NULL);
    // The signals that usually end a program on purpose reach the running command too.
    install_clean_up(SIGINT);
    install_clean_up(SIGTERM);
    install_clean_up(SIGHUP);
}

/// Installed with the first named temporary, not at start: most sessions never have one,
/// and start-up stays 40 system calls shorter.
static void install_fatal_signal_handlers(void) {
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) install_clean_up(fatal_signals[i]);
}

static int fatal_handlers_installed = 0;

void tp_keep_signal_handlers(void) { fatal_handlers_installed = 1; }

void tp_set_temporary_name(int dirfd, const char *name) {
    if (!fatal_handlers_installed && dirfd >= 0) {
        install_fatal_signal_handlers();
        fatal_handlers_installed = 1;
    }
    temporary_dirfd = -1;
    if (dirfd >= 0 && name != NULL && strlen(name) <= NAME_MAX) {
        memcpy(temporary_name, name, strlen(name) + 1);
        temporary_dirfd = dirfd;
    }
}

int tp_ensure_standard_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        // open returns the lowest free fd, which is this one.
        int opened = open("/dev/null", O_RDWR);
        if (opened != fd) {
            if (opened >= 0) close(opened);
            return -1;
        }
    }
    return 0;
}

int tp_can_map(size_t size) {
    void *probe = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) return 0;
    munmap(probe, size);
    return 1;
}

int tp_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int tp_decode_wait_status(int status) {
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

const char *tp_environ_entry(size_t index) {
    if (environ == NULL) return NULL;
    for (size_t i = 0; i < index; i++) if (environ[i] == NULL) return NULL;
    return environ[index];
}

// ---------------------------------------------------------------------------
// The child, after vfork: it shares the agent's memory until exec, so it only makes
// syscalls (everything it needs, the group list included, was computed by the parent).

static void report_and_exit(int pipe_fd, int step, int error) {
    int message[2] = { step, error };
    ssize_t ignored = write(pipe_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

/// Marks every fd from 3 up close-on-exec, so the child keeps exactly 0, 1 and 2
/// while the error pipe still works until exec.
static void cloexec_from_3(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0) return;
#endif
    struct rlimit limit;
    long max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 1048576)
        max_fd = (long)limit.rlim_cur;
    for (long fd = 3; fd < max_fd; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/// Every signal back to its default disposition, the mask emptied. Through the raw
/// syscall: musl's sigaction refuses signals 32-34 (reserved for its own use), yet an
/// "ignore" inherited on them would survive exec.
static void reset_signals(void) {
    // The kernel's mask is 64 bits on every architecture, two longs on 32-bit ones (any other
    // size is EINVAL, and the signal would stay ignored in the child).
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask[64 / (8 * sizeof(long))]; } action = { 0 };
    action.handler = (void *)SIG_DFL;
    for (long sig = 1; sig <= 64; sig++) syscall(SYS_rt_sigaction, sig, &action, NULL, sizeof action.mask);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static int move_to(int fd, int target) {
    if (fd == target) return fcntl(fd, F_SETFD, 0);   // clear close-on-exec
    return dup2(fd, target) < 0 ? -1 : 0;
}

/// execvp, but with `envp` and the PATH given (the child's own, not the agent's): each
/// folder in turn, as execvp does; EACCES is remembered, ENOENT and ENOTDIR go on.
static void exec_with_environment(const tp_spawn_request *r) {
    const char *file = r->argv[0];
    char *const *argv = (char *const *)r->argv;
    char *const *envp = (char *const *)r->envp;
    if (strchr(file, '/') != NULL || r->search_path == NULL) {
        execve(file, argv, envp);
        return;
    }
    size_t file_length = strlen(file);
    char candidate[4096];
    int saw_eacces = 0;
    const char *folder = r->search_path;
    while (1) {
        const char *end = strchr(folder, ':');
        size_t length = end ? (size_t)(end - folder) : strlen(folder);
        if (length + 1 + file_length + 1 <= sizeof candidate) {
            // An empty entry is the current folder, as in execvp.
            size_t at = 0;
            if (length == 0) candidate[at++] = '.';
            memcpy(candidate + at, folder, length);
            at += length;
            candidate[at++] = '/';
            memcpy(candidate + at, file, file_length + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) return;
        }
        if (end == NULL) break;
        folder = end + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
}

static void child(const tp_spawn_request *r, int pipe_fd) {
    reset_signals();
    // A process group of its own, so that everything the command starts can be ended with
    // it when the client goes away. On a pty, a session of its own (which is also a
    // process group whose id is the pid), so that the pty can become its controlling terminal.
    if (r->controlling_terminal) setsid();
    else setpgid(0, 0);
    // The three sources are never 0..2 themselves (the agent opens them after its own
    // stdio), so no dup2 can clobber a source still needed.
    if (move_to(r->stdin_fd, 0) < 0 || move_to(r->stdout_fd, 1) < 0 || move_to(r->stderr_fd, 2) < 0)
        report_and_exit(pipe_fd, TP_STEP_SETUP, errno);
    if (r->controlling_terminal) {
        if (ioctl(0, TIOCSCTTY, 0) < 0) report_and_exit(pipe_fd, TP_STEP_SETUP, errno);
        // As grantpt does: the terminal belongs to the user it serves (mesg, write, a
        // program that reopens its tty by name). Only root can; otherwise it is ours already.
        if (r->set_uid) { int ignored = fchown(0, r->uid, (gid_t)-1); (void)ignored; }
    }
    if (r->cwd != NULL && chdir(r->cwd) < 0) report_and_exit(pipe_fd, TP_STEP_CHDIR, errno);
    if (r->fail_preexec_errno != 0) report_and_exit(pipe_fd, TP_STEP_PREEXEC, r->fail_preexec_errno);
    umask((mode_t)r->umask_value);
    if (r->set_gid || r->set_uid) {
        // Groups first, then gid, then uid: once the uid is no longer root the other
        // two would be refused. Only a root agent is asked to set groups (see Subprocess.swift).
        if (r->set_groups && setgroups((size_t)r->group_count, r->groups) < 0)
            report_and_exit(pipe_fd, TP_STEP_PREEXEC, errno);
        if (r->set_gid && setresgid(r->gid, r->gid, r->gid) < 0) report_and_exit(pipe_fd, TP_STEP_PREEXEC, errno);
        if (r->set_uid && setresuid(r->uid, r->uid, r->uid) < 0) report_and_exit(pipe_fd, TP_STEP_PREEXEC, errno);
    }
    if (r->cwd != NULL && chdir(r->cwd) < 0) report_and_exit(pipe_fd, TP_STEP_PREEXEC, errno);
    cloexec_from_3();
    if (r->envp != NULL) exec_with_environment(r);
    else execvp(r->argv[0], (char *const *)r->argv);
    report_and_exit(pipe_fd, TP_STEP_EXEC, errno);
}

pid_t tp_spawn(const tp_spawn_request *request, tp_spawn_failure *failure) {
    failure->step = TP_STEP_NONE;
    failure->error = 0;
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) < 0) {
        failure->step = TP_STEP_SETUP;
        failure->error = errno;
        return -1;
    }
    // SIGINT, SIGTERM and SIGHUP wait until the child is recorded as the running command, so
    // that one arriving meanwhile is still passed on to it (the child empties its own mask).
    sigset_t ending, previous;
    sigemptyset(&ending);
    sigaddset(&ending, SIGINT);
    sigaddset(&ending, SIGTERM);
    sigaddset(&ending, SIGHUP);
    sigprocmask(SIG_BLOCK, &ending, &previous);
    pid_t pid = vfork();
    if (pid == 0) {
        close(status_pipe[0]);
        child(request, status_pipe[1]);
    }
    int fork_errno = errno;
    if (pid > 0) running_child = pid;
    sigprocmask(SIG_SETMASK, &previous, NULL);
    close(status_pipe[1]);
    if (pid < 0) {
        close(status_pipe[0]);
        failure->step = TP_STEP_SETUP;
        failure->error = fork_errno;
        return -1;
    }
    int message[2];
    ssize_t got;
    do { got = read(status_pipe[0], message, sizeof message); } while (got < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (got == (ssize_t)sizeof message) {
        int ignored;
        while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {}
        running_child = 0;
        failure->step = message[0];
        failure->error = message[1];
        return -1;
    }
    return pid;
}

// ---------------------------------------------------------------------------
// Embedded Swift has no CommandLine: the static build's C `main` keeps argv for Swift.
int tp_argc;
char **tp_argv;
#ifdef TUNNEL_EMBEDDED_MAIN
extern int tunnel_swift_main(void);
int main(int argc, char **argv) {
    tp_argc = argc;
    tp_argv = argv;
    return tunnel_swift_main();
}
#endif

#if defined(__linux__) && !defined(__GLIBC__)
#include <sys/random.h>
// musl 1.2.3 lacks arc4random_buf, which the Embedded stdlib uses to seed hashing.
void arc4random_buf(void *buffer, size_t size) {
    unsigned char *bytes = buffer;
    while (size > 0) {
        ssize_t got = getrandom(bytes, size, 0);
        if (got <= 0) { if (errno == EINTR) continue; break; }
        bytes += got;
        size -= (size_t)got;
    }
}
#endif

// ---------------------------------------------------------------------------
// The run path.

#include <sys/socket.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int tp_set_window_size(int fd, unsigned int rows, unsigned int columns) {
    struct winsize size = { 0 };
    size.ws_row = (unsigned short)(rows > 65535 ? 65535 : rows);
    size.ws_col = (unsigned short)(columns > 65535 ? 65535 : columns);
    return ioctl(fd, TIOCSWINSZ, &size);
}

int tp_open_terminal(unsigned int rows, unsigned int columns, int *master, int *slave, const char **failed_path) {
    static char slave_path[32];
    *failed_path = "/dev/ptmx";
    int ptmx = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (ptmx < 0) return -1;
    int unlock = 0;
    unsigned int number = 0;
    if (ioctl(ptmx, TIOCSPTLCK, &unlock) < 0 || ioctl(ptmx, TIOCGPTN, &number) < 0) goto failed;
    *failed_path = "/dev/pts";
    // TIOCGPTPEER (Linux 4.13) opens the very slave of this master, whatever is mounted
    // where; older kernels: by its name, as ptsname gives it.
    int peer = ioctl(ptmx, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0) {
        // "/dev/pts/" and the number in decimal (no snprintf: printf would grow the binary).
        char digits[12];
        int count = 0;
        do { digits[count++] = (char)('0' + number % 10); number /= 10; } while (number > 0);
        memcpy(slave_path, "/dev/pts/", 9);
        for (int index = 0; index < count; index++) slave_path[9 + index] = digits[count - 1 - index];
        slave_path[9 + count] = 0;
        *failed_path = slave_path;
        peer = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (peer < 0) goto failed;
    }
    if (tp_set_window_size(ptmx, rows, columns) < 0) {
        close(peer);
        goto failed;
    }
    *master = ptmx;
    *slave = peer;
    return 0;
failed:;
    int error = errno;
    close(ptmx);
    errno = error;
    return -1;
}

int tp_child_has_ended(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

int tp_descriptor_kind(int fd) {
    struct stat info;
    if (fstat(fd, &info) != 0) return TP_FD_OTHER;
    if (S_ISFIFO(info.st_mode)) return TP_FD_PIPE;
    if (S_ISSOCK(info.st_mode)) return TP_FD_SOCKET;
    return TP_FD_OTHER;
}

long tp_send_nonblocking(int fd, const void *bytes, size_t count) {
    return (long)send(fd, bytes, count, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// --- The restricted agent (--root, --log syslog): Sources/TunnelAgent/Restrictions/ ---
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>

// linux/openat2.h, which musl's sysroot lacks; 437 on every architecture.
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct tp_open_how { uint64_t flags, mode, resolve; };
#define TP_RESOLVE_IN_ROOT 0x10

int tp_openat_in_root(int dirfd, const char *path, int flags, unsigned int mode) {
    struct tp_open_how how = {
        .flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
        // openat2 refuses a mode unless it creates.
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = TP_RESOLVE_IN_ROOT,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#define TP_RESOLVE_NO_SYMLINKS 0x04

int tp_open_without_symlinks(int jail, const char *path, int flags) {
    struct tp_open_how how = {
        .flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
        .resolve = TP_RESOLVE_NO_SYMLINKS | (jail >= 0 ? TP_RESOLVE_IN_ROOT : 0),
    };
    int fd = (int)syscall(SYS_openat2, jail >= 0 ? jail : AT_FDCWD, path, &how, sizeof how);
    // --root needs openat2 to start, so only the host's paths fall back to the walk.
    if (fd < 0 && errno == ENOSYS && jail < 0) return tp_open_walking_without_symlinks(path, flags);
    return fd;
}

int tp_open_walking_without_symlinks(const char *path, int flags) {
    const int folder = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(*path == '/' ? "/" : ".", folder);
    if (fd < 0) return -1;
    const char *cursor = path;
    for (;;) {
        while (*cursor == '/') cursor++;
        size_t length = strcspn(cursor, "/");
        const char *after = cursor + length;
        while (*after == '/') after++;
        if (length == 0) {
            // "/" or "." (or "" as the kernel's ENOENT): the starting folder, opened as asked.
            int final = *path ? openat(fd, ".", flags | O_CLOEXEC) : (errno = ENOENT, -1);
            int saved = errno;
            close(fd);
            errno = saved;
            return final;
        }
        char name[NAME_MAX + 1];
        if (length > NAME_MAX) { close(fd); errno = ENAMETOOLONG; return -1; }
        memcpy(name, cursor, length);
        name[length] = 0;
        // The last name gets the caller's flags, O_DIRECTORY too after a trailing "/".
        int last = *after == 0;
        int trailing = last && cursor[length] == '/';
        int next = openat(fd, name, last ? (flags | O_NOFOLLOW | O_CLOEXEC | (trailing ? O_DIRECTORY : 0)) : folder);
        int saved = errno;
        close(fd);
        errno = saved;
        if (next < 0 || last) return next;
        fd = next;
        cursor = after;
    }
}

// syslog(3) would link strftime and the time zone code (7 KB) for a timestamp the syslog
// daemon adds anyway: the agent sends `<PRI>tunnel-dispatcher[PID]: MESSAGE` itself, as RFC 3164 allows.
static int syslog_fd = -1;
static int syslog_priority;

static int syslog_connect(void) {
    if (syslog_fd >= 0) close(syslog_fd);
    syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (syslog_fd < 0) return -1;
    struct sockaddr_un address = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
    return connect(syslog_fd, (struct sockaddr *)&address, sizeof address);
}

int tp_syslog_open(int facility) {
    syslog_priority = facility | LOG_INFO;
    return syslog_connect();
}

void tp_syslog_info(const char *message) {
    char line[2048];
    int length = snprintf(line, sizeof line, "<%d>tunnel-dispatcher[%d]: %s", syslog_priority, (int)getpid(), message);
    if (length < 0) return;
    if ((size_t)length >= sizeof line) length = sizeof line - 1;   // a long line is cut, as syslog(3) does
    // The daemon restarted: its new socket needs a new connection (once).
    if (send(syslog_fd, line, (size_t)length, MSG_NOSIGNAL) < 0 && syslog_connect() == 0) {
        send(syslog_fd, line, (size_t)length, MSG_NOSIGNAL);
    }
}

int tp_syslog_facility(const char *name) {
    static const struct { const char *name; int value; } facilities[] = {
        {"auth", LOG_AUTH}, {"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
        {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++) {
        if (strcasecmp(name, facilities[i].name) == 0) return facilities[i].value;
    }
    return -1;
}

void tp_utc_timestamp(char *buffer, size_t size) {
    time_t now = time(NULL);
    struct tm parts;
    if (gmtime_r(&now, &parts) == NULL) {
        snprintf(buffer, size, "-");
        return;
    }
    // Not strftime: it links the time zone code (see above).
    snprintf(buffer, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1,
             parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

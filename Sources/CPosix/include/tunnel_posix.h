// The agent's one window onto libc (glibc for `swift test`, musl for the static build).
// Everything Swift cannot import directly (errno, variadic calls, macros, unions that
// differ between the two libcs) gets a small named wrapper here. Do not define
// _GNU_SOURCE in this header: it makes glibc's headers clash with Swift's own module.
#ifndef TUNNEL_POSIX_H
#define TUNNEL_POSIX_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>  /* rename(2); FILE itself is never used from Swift */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/// The calling thread's `errno`.
int tp_errno(void);
void tp_set_errno(int value);

/// `openat(2)` with an explicit mode (the libc function is variadic). `dirfd` may be
/// `AT_FDCWD`.
int tp_openat(int dirfd, const char *path, int flags, unsigned int mode);
/// Opens an unnamed temporary file (`O_TMPFILE`) in `dir`; where that is impossible
/// (no such directory, e.g. in a bare chroot), an anonymous memory file. -1 with errno.
int tp_open_tmpfile(const char *dir);
/// Opens an unnamed regular file (`O_TMPFILE | O_RDWR`) in the directory `dirfd` with
/// `mode` (umask and default ACLs apply as for `open(O_CREAT)`), or -1 with errno.
int tp_open_unnamed_at(int dirfd, unsigned int mode);
/// Gives the unnamed file `fd` the name `name` in `dirfd`: `linkat(AT_EMPTY_PATH)`, which
/// needs CAP_DAC_READ_SEARCH, else through /proc/self/fd. -1 with errno.
int tp_link_unnamed_at(int fd, int dirfd, const char *name);
/// `renameat2(RENAME_NOREPLACE)` within one directory: fails with EEXIST rather than replace.
int tp_rename_noreplace_at(int from_dirfd, const char *from, int to_dirfd, const char *to);
/// `fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW)` that needs no /proc: EOPNOTSUPP on a
/// symlink, else the mode of the file itself. (musl's fchmodat goes through /proc/self/fd.)
int tp_chmod_nofollow_at(int dirfd, const char *name, unsigned int mode);

/// `sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)`: start writeback, do not wait.
void tp_start_writeback(int fd);

/// Flags that need _GNU_SOURCE, which the header must not define (see above).
extern const int TP_O_PATH;
/// utimensat's "leave this time as it is".
extern const long TP_UTIME_OMIT;
extern const int TP_O_NOFOLLOW;
extern const int TP_O_DIRECTORY;
extern const int TP_AT_SYMLINK_NOFOLLOW;

/// Creates a close-on-exec pipe (`pipe2(O_CLOEXEC)`).
int tp_pipe(int fds[2]);
/// Asks for a 1 MiB pipe buffer when `fd` is a pipe (fewer wake-ups per megabyte moved);
/// silently does nothing otherwise or when refused.
void tp_grow_pipe(int fd);
/// `fcntl(2)` with an int argument.
int tp_fcntl_int(int fd, int cmd, int arg);

/// SIGPIPE and SIGXFSZ to "ignore" for the agent itself, so that a closed pipe and
/// RLIMIT_FSIZE are errors (EPIPE, EFBIG) instead of death; children get the defaults back.
/// SIGINT, SIGTERM and SIGHUP are passed on to the running command's process group (see
/// `tp_set_running_child`) before they end the agent.
void tp_install_signal_dispositions(void);

/// The command running now (its pid, also its process group; 0 when none): a signal that
/// ends the agent is passed on to it. `tp_spawn` records it; the caller clears it with 0
/// once the child has been waited for.
void tp_set_running_child(pid_t pid);

/// The named upload temporary to remove if a fatal signal kills the agent: `name` in the
/// directory `dirfd` (-1: none). The name is copied; the fd must stay open while set. The
/// first call installs handlers for every fatal signal that can be caught.
void tp_set_temporary_name(int dirfd, const char *name);

/// For in-process harnesses (the fuzzers): never install the handlers above, so that the
/// harness's own (libFuzzer's SIGALRM, ASan's SIGSEGV) stay in place.
void tp_keep_signal_handlers(void);

/// Opens /dev/null on each of fds 0, 1 and 2 that is closed, so that no later file or pipe
/// of the agent can take their place. Returns -1 if one of them could not be opened.
int tp_ensure_standard_fds(void);

/// Whether `size` bytes of address space can be mapped right now (RLIMIT_AS, the kernel's
/// overcommit policy): an `mmap` given straight back. A malloc/free pair would not do: the
/// optimizer removes it and assumes success.
int tp_can_map(size_t size);

/// `pidfd_open(pid, 0)`: a descriptor that polls readable when the process exits (Linux 5.3
/// and later), or -1 with errno.
int tp_pidfd_open(pid_t pid);

/// The `W*` macros of `<sys/wait.h>`: -N for a signal, else the exit status.
int tp_decode_wait_status(int status);

/// `environ[index]`, or NULL past the end.
const char *tp_environ_entry(size_t index);

/// The static build's argv (set by its C `main`); 0 / NULL in a normal build.
extern int tp_argc;
extern char **tp_argv;

/// Why `tp_spawn` failed.
typedef struct {
    /// The step of the child's set-up that failed, or 0 when exec succeeded.
    int step;
    /// errno of that step.
    int error;
} tp_spawn_failure;

enum {
    TP_STEP_NONE = 0,
    /// `chdir(cwd)` as the agent's own identity (reported as OSError naming the directory).
    TP_STEP_CHDIR = 1,
    /// umask, groups, gid, uid, second chdir (reported as ProcessError).
    TP_STEP_PREEXEC = 2,
    /// `execvp` itself (reported as OSError naming the program).
    TP_STEP_EXEC = 3,
    /// fork, pipe, dup2: the agent could not even set the child up.
    TP_STEP_SETUP = 4,
};

/// Everything the child needs, decided by the parent before fork.
typedef struct {
    const char *const *argv;      ///< NULL-terminated; argv[0] is looked up on PATH.
    int stdin_fd, stdout_fd, stderr_fd;
    const char *cwd;              ///< NULL: stay where the agent is.
    unsigned int umask_value;
    int set_gid;                  ///< non-zero: switch to `gid`
    gid_t gid;
    int set_uid;                  ///< non-zero: switch to `uid`
    uid_t uid;
    int set_groups;               ///< non-zero: setgroups(group_count, groups) first (root only)
    const gid_t *groups;
    int group_count;
    int fail_preexec_errno;       ///< non-zero: fail the umask step with this errno (umask out of C range)
    const char *const *envp;      ///< NULL: the agent's environment; else NULL-terminated "K=V"
    const char *search_path;      ///< with envp: the PATH that argv[0] is looked up on (NULL: none)
    int controlling_terminal;     ///< non-zero: stdin_fd is a pty's slave: a new session whose controlling terminal it is
} tp_spawn_request;

/// Reading a directory straight from its descriptor, without a DIR (whose opendir costs a
/// dup, four fcntl, an fstat and an allocation per folder): `tp_dir_read` fills `buffer`
/// with entries (getdents64): the bytes read, 0 at the end, -1 with errno. `tp_dir_next`
/// takes the next entry but "." and ".." from `buffer[*position..<end]`, moving `position`:
/// 1 with its name (NUL-terminated, in the buffer) and d_type, 0 when the buffer is used up.
long tp_dir_read(int fd, void *buffer, unsigned long size);
int tp_dir_next(const void *buffer, unsigned long *position, unsigned long end, const char **name, unsigned char *type);

/// vforks and execs as described in `request` (the child only makes syscalls and execs,
/// so sharing the agent's memory until exec is safe and saves copying page tables). Returns the child's pid, or -1 with
/// `failure` telling which step failed (the child has then been reaped already).
pid_t tp_spawn(const tp_spawn_request *request, tp_spawn_failure *failure);

// ---------------------------------------------------------------------------
// The run path (Session/RunSupervisor.swift).

/// A new pseudo-terminal of `rows` x `columns` (System/Terminal.swift): `/dev/ptmx` opened,
/// unlocked (TIOCSPTLCK) and its slave opened (TIOCGPTPEER, else `/dev/pts/N` from TIOCGPTN:
/// musl's static grantpt/ptsname are not used), both close-on-exec and neither the agent's
/// controlling terminal. 0, or -1 with errno and `*failed_path` the path that failed.
int tp_open_terminal(unsigned int rows, unsigned int columns, int *master, int *slave, const char **failed_path);

/// TIOCSWINSZ on a pty's master, values clamped to 16 bits: the kernel sends SIGWINCH to
/// the terminal's foreground process group. 0, or -1 with errno.
int tp_set_window_size(int fd, unsigned int rows, unsigned int columns);

/// Whether the child `pid` has ended, without reaping it (`waitid` with `WNOWAIT`): 1 ended,
/// 0 still running, -1 with errno. An unreaped child keeps its pid, and so its process
/// group's id: signals to it can never reach a process that took the number over.
int tp_child_has_ended(pid_t pid);

/// What kind of descriptor `fd` is, for writing to it without changing its flags:
/// `TP_FD_PIPE` (at most PIPE_BUF per write after POLLOUT), `TP_FD_SOCKET` (send with
/// MSG_DONTWAIT), `TP_FD_OTHER` (a terminal, a file: like a pipe).
#define TP_FD_OTHER 0
#define TP_FD_PIPE 1
#define TP_FD_SOCKET 2
int tp_descriptor_kind(int fd);

/// `send(fd, bytes, count, MSG_DONTWAIT | MSG_NOSIGNAL)`: what a socket takes now.
long tp_send_nonblocking(int fd, const void *bytes, size_t count);

// --- The restricted agent (--root, --log syslog): Sources/TunnelAgent/Restrictions/ ---

/// `openat2(dirfd, path, {flags | O_CLOEXEC, mode, RESOLVE_IN_ROOT})`: `path` resolved as if
/// `dirfd` were `/` (`..` and absolute symlinks stay beneath it). -1 with errno (ENOSYS on
/// kernels before 5.6).
int tp_openat_in_root(int dirfd, const char *path, int flags, unsigned int mode);
/// Opens `path` with `flags` (never O_CREAT) following no symlink anywhere in it, not even the
/// last name: ELOOP, or ENOTDIR from the walk, when one is there. Beneath `jail` as
/// `tp_openat_in_root` when it is not -1, else from `/` or the working directory; by
/// openat2(RESOLVE_NO_SYMLINKS), or where the kernel lacks it (before 5.6) by the walk below.
int tp_open_without_symlinks(int jail, const char *path, int flags);
/// The fallback: one name at a time from `/` (or "."), each folder O_PATH|O_DIRECTORY|O_NOFOLLOW
/// (a symlink there is ENOTDIR) and the last name `flags | O_NOFOLLOW` (ELOOP; with O_PATH,
/// give O_DIRECTORY too). ".." is the kernel's own (it is no symlink).
int tp_open_walking_without_symlinks(const char *path, int flags);
/// Connects to /dev/log for `tp_syslog_info` (0, else -1 with errno: an audit log that goes
/// nowhere must not start).
int tp_syslog_open(int facility);
/// Sends `message` to syslog at LOG_INFO, as `tunnel-dispatcher[PID]: message`.
void tp_syslog_info(const char *message);
/// The facility named `name` ("authpriv", "daemon", "local0"…), or -1.
int tp_syslog_facility(const char *name);
/// The current time as `2026-11-29T22:40:00Z` in `buffer` (at least 32 bytes).
void tp_utc_timestamp(char *buffer, size_t size);

#endif

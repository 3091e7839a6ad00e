import CPosix

/// Where the paths of requests are resolved: from the agent's working directory (the
/// default), or beneath `--root` as if it were `/`, by the kernel's own
/// `openat2(RESOLVE_IN_ROOT)`, so that `..`, absolute and relative symlinks, and a symlink
/// swapped in mid-request all stay inside. Request paths become descriptors here and
/// nowhere else (FileDescriptor's `openForReading`, `openDirectory…`, SystemPath's
/// `status`); the agent's own files (account databases, /dev/null, TMPDIR spools) are
/// opened with `FileDescriptor.open` on the host, and are never jailed.
///
/// Calls relative to a directory descriptor (`*at`) take one final component. Under the
/// jail they never follow it when it is a symlink: its target would be resolved from the
/// host's `/`. So Upload, SetMetadata and mkdir -p act on a final symlink itself (or fail
/// with ELOOP) rather than leave the jail; docs/security.md says so.
enum PathJail {
    /// The `--root` directory (O_PATH), or -1 without one.
    nonisolated(unsafe) private(set) static var root: Int32 = -1

    /// Resolves every later request path beneath `directory`. Fails when it is no directory,
    /// or with ENOSYS when the kernel has no openat2 (before 5.6): no weaker emulation.
    static func confine(to directory: SystemPath) throws(Errno) {
        let opened = try FileDescriptor.open(directory, TP_O_PATH | TP_O_DIRECTORY)
        let fd = try SystemPath.currentDirectory.withCString { (dot) throws(Errno) in
            try retryingInterrupts { tp_openat_in_root(opened.rawValue, dot, TP_O_PATH | TP_O_DIRECTORY, 0) }
        }
        root = fd
    }

    /// `open(path, flags)` for a request's path: on the host, or beneath the root.
    static func open(_ path: SystemPath, _ flags: Int32, mode: UInt32 = 0) throws(Errno) -> FileDescriptor {
        guard root >= 0 else { return try FileDescriptor.open(path, flags, mode: mode) }
        var attempts = 0
        while true {
            do throws(Errno) {
                let fd = try path.withCString { (name) throws(Errno) in
                    try retryingInterrupts { tp_openat_in_root(root, name, flags, mode) }
                }
                return FileDescriptor(taking: fd)
            } catch where error == Errno(EAGAIN) && attempts < 16 {
                // The kernel's answer when a rename raced a `..` on the way: walk again.
                attempts += 1
            }
        }
    }

    /// `open(path, flags)` for the root of a `*Beneath` request: like `open`, but a symlink
    /// anywhere in `path`, the last name included, is refused (ELOOP, or ENOTDIR where the
    /// kernel lacks openat2) rather than followed. `flags` with O_PATH needs O_DIRECTORY.
    static func openWithoutSymlinks(_ path: SystemPath, _ flags: Int32) throws(Errno) -> FileDescriptor {
        var attempts = 0
        while true {
            do throws(Errno) {
                let fd = try path.withCString { (name) throws(Errno) in
                    try retryingInterrupts { tp_open_without_symlinks(root, name, flags) }
                }
                return FileDescriptor(taking: fd)
            } catch where error == Errno(EAGAIN) && attempts < 16 {
                attempts += 1 // as `open`: a rename raced a `..` beneath the jail.
            }
        }
    }

    /// `stat` (or `lstat`) of a request's path.
    static func status(of path: SystemPath, followingLinks: Bool) throws(Errno) -> FileStatus {
        guard root >= 0 else { return try path.hostStatus(followingLinks: followingLinks) }
        return try open(path, TP_O_PATH | (followingLinks ? 0 : TP_O_NOFOLLOW)).status()
    }

    /// Flags for an `*at` call on a final component (see above): AT_SYMLINK_NOFOLLOW unless
    /// following was asked for outside a jail.
    static func atFlags(followingLinks: Bool) -> Int32 {
        followingLinks && root < 0 ? 0 : TP_AT_SYMLINK_NOFOLLOW
    }

    /// Flags added to an `openat` of a final component: O_NOFOLLOW under the jail.
    static var finalComponentOpenFlags: Int32 { root < 0 ? 0 : TP_O_NOFOLLOW }
}

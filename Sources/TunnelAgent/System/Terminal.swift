import CPosix
import TunnelWire

// A run's pseudo-terminal (RunTerminal, docs/protocol.md): the agent keeps the master, the
// child gets the slave as fds 0-2 and as its controlling terminal (tp_spawn).

extension ChildPipes {
    /// Opens a pty of `size` in place of the pipes: the child's stdin, stdout and stderr are
    /// the slave; `toChild` and `fromStdout` are two descriptors of the master, so that
    /// ending the child's input (CloseInput) never closes its output. A missing /dev/ptmx
    /// or /dev/pts (a bare container) is a refusal naming it.
    func openTerminal(_ size: TerminalSize) throws(SpawnFailure) {
        var master: Int32 = -1
        var slave: Int32 = -1
        var failedPath: UnsafePointer<CChar>?
        guard tp_open_terminal(size.rows, size.columns, &master, &slave, &failedPath) == 0 else {
            let error = Errno.current
            throw SpawnFailure(step: .openingTerminal, error: error, path: failedPath.map { String(cString: $0) })
        }
        childStdin = .some(FileDescriptor(taking: slave))
        toChild = .some(FileDescriptor(taking: master))
        let reader = tp_fcntl_int(master, F_DUPFD_CLOEXEC, 3)
        guard reader >= 0 else { throw SpawnFailure(step: .settingUp, error: Errno.current) }
        fromStdout = .some(FileDescriptor(taking: reader))
        // Writes never block the supervisor; reads happen only after POLLIN.
        do throws(Errno) { try toChild?.makeNonBlocking() } catch { throw SpawnFailure(step: .settingUp, error: error) }
    }

    /// Applies a WindowSize: the kernel then sends SIGWINCH to the terminal's foreground
    /// process group. Ignored once the terminal is closed (the run is ending).
    func resizeTerminal(_ size: TerminalSize) {
        guard let fd = fromStdout?.rawValue ?? toChild?.rawValue else { return }
        _ = tp_set_window_size(fd, size.rows, size.columns)
    }
}

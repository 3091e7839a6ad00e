import CPosix

/// Everything decided before the fork.
struct ProcessPlan {
    /// argv, as bytes: ProcessRun's are text, RunEx's any bytes but NUL.
    var argv: [[UInt8]]
    var stdin: Spool?
    var captureOutput: Bool
    /// Where the child starts (bytes: RunEx's may be any); nil: where the agent is.
    var cwd: [UInt8]?
    var umask: UInt32 = 0o077
    /// The umask was beyond the C type: the child fails where Python's os.umask would.
    var umaskOverflow = false
    var uid: UInt32?
    var gid: UInt32?
    var userName: String?
    /// The descriptor answers leave on (the session's stdout). When it reports an error or a
    /// hang-up, the client is gone: the command and its process group are killed rather
    /// than left running for nobody.
    var answerChannel: Int32?
    /// nil: the agent's own environment; else `KEY=VALUE` entries, with argv[0] looked up
    /// on `searchPath` (the new environment's PATH).
    var environment: [[UInt8]]?
    var searchPath: [UInt8]?

    init(command: [String], stdin: Spool?, captureOutput: Bool, cwd: String?) {
        self.init(argv: command.map { Array($0.utf8) }, stdin: stdin, captureOutput: captureOutput,
                  cwd: cwd.map { Array($0.utf8) })
    }

    init(argv: [[UInt8]], stdin: Spool?, captureOutput: Bool, cwd: [UInt8]?) {
        self.argv = argv
        self.stdin = stdin
        self.captureOutput = captureOutput
        self.cwd = cwd
    }

    /// The program and the working directory, as error messages name them.
    var programName: String { String(decoding: argv[0], as: UTF8.self) }
    var cwdName: String? { cwd.map { String(decoding: $0, as: UTF8.self) } }
}

/// The step of the child's set-up that failed (CPosix `TP_STEP_*`).
enum SpawnStep {
    /// fork, pipe, dup2: the child could not even be set up.
    case settingUp
    /// `chdir(cwd)` as the agent's own identity.
    case changingDirectory
    /// umask, groups, gid, uid, the second chdir.
    case preparing
    /// `execvp` itself.
    case executing
}

enum ProcessOutcome {
    /// The wait status as Python reports it: the exit status, or -N for signal N.
    case exited(status: Int32, stdout: Spool, stderr: Spool)
    case failedToStart(SpawnFailure)
    /// Storing the captured output failed (the temporary directory is full): the child was
    /// killed rather than left writing into a pipe nobody reads.
    case outputFailed(Errno)
    /// The answer channel closed while the command ran: its process group was killed.
    case clientGone
}

/// A started child: its pid (and process group) and the agent's ends of its pipes.
struct StartedChild {
    let pid: pid_t
    let pipes: ChildPipes
}

/// Spawns `plan`'s child with pipes for stdin (when `feedingStdin`) and both outputs (when
/// capturing). The caller must `finishedWithChild()` once it has reaped it.
func startChild(_ plan: ProcessPlan, feedingStdin: Bool) -> Result<StartedChild, SpawnFailure> {
    let pipes = ChildPipes()
    do throws(Errno) {
        try pipes.open(feedingStdin: feedingStdin, capturing: plan.captureOutput)
    } catch {
        return .failure(SpawnFailure(step: .settingUp, error: error))
    }
    var failure = tp_spawn_failure()
    let pid = spawn(plan, pipes: pipes, failure: &failure)
    pipes.closeChildEnds()
    guard pid > 0 else {
        let step: SpawnStep
        switch failure.step {
        case Int32(TP_STEP_CHDIR): step = .changingDirectory
        case Int32(TP_STEP_PREEXEC): step = .preparing
        case Int32(TP_STEP_EXEC): step = .executing
        default: step = .settingUp
        }
        return .failure(SpawnFailure(step: step, error: Errno(failure.error)))
    }
    return .success(StartedChild(pid: pid, pipes: pipes))
}

struct SpawnFailure: Error {
    let step: SpawnStep
    let error: Errno
}

/// tp_spawn recorded the child as the running command (for signals that end the agent).
func finishedWithChild() { tp_set_running_child(0) }

/// Kills the child's whole process group: whatever the command started goes with it.
func killProcessGroup(of pid: pid_t, _ signal: Int32 = SIGKILL) {
    _ = kill(-pid, signal)
    if signal == SIGKILL { _ = kill(pid, SIGKILL) }
}

/// Runs `plan` to its end: spawn, feed stdin, drain both outputs, wait.
func runProcess(_ plan: ProcessPlan) -> ProcessOutcome {
    let pid: pid_t
    let pipes: ChildPipes
    switch startChild(plan, feedingStdin: plan.stdin != nil) {
    case .failure(let failure): return .failedToStart(failure)
    case .success(let child): (pid, pipes) = (child.pid, child.pipes)
    }
    defer { finishedWithChild() }
    let stdout = Spool()
    let stderr = Spool()
    var ending = pumpChild(pipes: pipes, stdin: plan.stdin, stdout: stdout, stderr: stderr, watching: plan.answerChannel)
    if ending == .finished, let channel = plan.answerChannel, !waitForExit(pid, watching: channel) {
        ending = .clientGone
    }
    if ending != .finished {
        pipes.closeAll()
        killProcessGroup(of: pid)
    }
    var status: Int32 = 0
    _ = try? retryingInterrupts { waitpid(pid, &status, 0) }
    if ending == .clientGone { return .clientGone }
    if let failure = stdout.failure ?? stderr.failure { return .outputFailed(failure) }
    return .exited(status: tp_decode_wait_status(status), stdout: stdout, stderr: stderr)
}

/// Waits until `pid` has exited (it stays a zombie for `waitpid`); false when `channel`
/// reported the client gone first. Without pidfds (Linux before 5.3) it cannot watch both
/// and says true at once: the plain wait follows.
private func waitForExit(_ pid: pid_t, watching channel: Int32) -> Bool {
    guard let exited = try? retryingInterrupts({ tp_pidfd_open(pid) }) else { return true }
    let process = FileDescriptor(taking: exited)
    while true {
        var fds = [pollfd(fd: process.rawValue, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: channel, events: 0, revents: 0)]
        guard (try? retryingInterrupts({ fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, 2, -1) } })) != nil else {
            return true
        }
        if fds[1].revents & answerChannelClosed != 0 { return false }
        if fds[0].revents != 0 { return true }
    }
}

/// What poll reports on a pipe or socket whose reader went away.
private let answerChannelClosed = Int16(POLLERR | POLLHUP | POLLNVAL)

/// Builds the C request (argv and strings as C strings that live across the call).
private func spawn(_ plan: ProcessPlan, pipes: ChildPipes, failure: inout tp_spawn_failure) -> pid_t {
    let cArguments = plan.argv.map(cString)
    let cEnvironment = plan.environment?.map(cString)
    let cSearchPath = plan.searchPath.map(cString)
    let cCwd = plan.cwd.map(cString)
    defer {
        for argument in cArguments + (cEnvironment ?? []) { argument.deallocate() }
        cSearchPath?.deallocate()
        cCwd?.deallocate()
    }
    let argv = cArguments.map { UnsafePointer<CChar>($0) } + [nil]
    let envp = cEnvironment.map { $0.map { UnsafePointer<CChar>($0) } + [nil] } ?? []
    return argv.withUnsafeBufferPointer { argvBuffer in
        envp.withUnsafeBufferPointer { envpBuffer in
            supplementaryGroups(plan).withUnsafeBufferPointer { groups in
                var request = tp_spawn_request()
                request.argv = argvBuffer.baseAddress
                request.envp = plan.environment == nil ? nil : envpBuffer.baseAddress
                request.search_path = UnsafePointer(cSearchPath)
                request.stdin_fd = pipes.childStdin?.rawValue ?? -1
                request.stdout_fd = pipes.childStdout?.rawValue ?? 2
                request.stderr_fd = pipes.childStderr?.rawValue ?? 2
                request.cwd = UnsafePointer(cCwd)
                request.umask_value = plan.umask
                request.fail_preexec_errno = plan.umaskOverflow ? EOVERFLOW : 0
                request.set_gid = plan.gid != nil ? 1 : 0
                request.gid = plan.gid ?? 0
                request.set_uid = plan.uid != nil ? 1 : 0
                request.uid = plan.uid ?? 0
                request.set_groups = groups.isEmpty ? 0 : 1
                request.groups = groups.baseAddress
                request.group_count = Int32(groups.count)
                return tp_spawn(&request, &failure)
            }
        }
    }
}

/// A NUL-terminated copy of `bytes` (callers rejected NUL bytes inside), to deallocate.
private func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
    bytes.withUnsafeBufferPointer { source in
        for index in 0..<source.count { copy[index] = CChar(bitPattern: source[index]) }
    }
    copy[bytes.count] = 0
    return copy
}

/// The supplementary groups the child gets when it switches identity: the target user's
/// (as `initgroups` would set them), or just the one group. Empty (leave them alone) when
/// not switching or not root: an unprivileged agent cannot set groups, and the reference
/// never does, so "switching" to itself must still work.
private func supplementaryGroups(_ plan: ProcessPlan) -> [gid_t] {
    guard let gid = plan.gid, geteuid() == 0 else { return [] }
    guard plan.uid != nil, let user = plan.userName else { return [gid] }
    var count: Int32 = 64
    while true {
        var groups = [gid_t](repeating: 0, count: Int(count))
        let result = user.withCString { getgrouplist($0, gid, &groups, &count) }
        if result >= 0 { return Array(groups[0..<Int(count)]) }
        if count <= Int32(groups.count) { count = Int32(groups.count) * 2 }
        if count > 65536 { return [gid] }
    }
}

/// The fds between agent and child. The child's ends are passed to tp_spawn and closed in
/// the agent right after; uncaptured output goes to the agent's own stderr, never fd 1.
final class ChildPipes {
    var childStdin: FileDescriptor?
    /// nil: the agent's stderr.
    var childStdout: FileDescriptor?
    var childStderr: FileDescriptor?
    var toChild: FileDescriptor?
    var fromStdout: FileDescriptor?
    var fromStderr: FileDescriptor?

    func open(feedingStdin: Bool, capturing: Bool) throws(Errno) {
        if feedingStdin {
            let pipe = try FileDescriptor.pipe()
            try pipe.writeEnd.makeNonBlocking()
            tp_grow_pipe(pipe.writeEnd.rawValue)
            childStdin = .some(pipe.readEnd)
            toChild = .some(pipe.writeEnd)
        } else if let null = try? FileDescriptor.open(SystemPath("/dev/null")!, O_RDONLY) {
            childStdin = .some(null)
        } else {
            // No /dev/null (a bare chroot): an empty pipe whose writer is gone.
            let empty = try FileDescriptor.pipe()
            childStdin = .some(empty.readEnd)
        }
        if capturing {
            let stdout = try FileDescriptor.pipe()
            let stderr = try FileDescriptor.pipe()
            tp_grow_pipe(stdout.readEnd.rawValue)
            fromStdout = .some(stdout.readEnd)
            childStdout = .some(stdout.writeEnd)
            fromStderr = .some(stderr.readEnd)
            childStderr = .some(stderr.writeEnd)
        }
    }

    func closeChildEnds() {
        childStdin = nil
        childStdout = nil
        childStderr = nil
    }

    func closeAll() {
        closeChildEnds()
        toChild = nil
        fromStdout = nil
        fromStderr = nil
    }
}

private enum PumpEnding { case finished, storingFailed, clientGone }

/// Feeds stdin and drains stdout and stderr together until all three are done, so that
/// neither side can block the other whatever the sizes. Stops at once when storing the
/// output fails or the answer channel closes.
private func pumpChild(pipes: ChildPipes, stdin: Spool?, stdout: Spool, stderr: Spool, watching channel: Int32?) -> PumpEnding {
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    defer { chunk.deallocate() }
    var stdinOffset: UInt64 = 0
    var pending = 0          // stdin bytes staged in `inputBuffer`: [pendingStart, pending) are unsent
    var pendingStart = 0
    let inputBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    defer { inputBuffer.deallocate() }
    if stdin == nil || stdin!.byteCount == 0 { pipes.toChild = nil }
    while pipes.toChild != nil || pipes.fromStdout != nil || pipes.fromStderr != nil {
        var fds: [pollfd] = []
        if let fd = pipes.toChild?.rawValue { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
        if let fd = pipes.fromStdout?.rawValue { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        if let fd = pipes.fromStderr?.rawValue { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        if let channel { fds.append(pollfd(fd: channel, events: 0, revents: 0)) }
        guard (try? retryingInterrupts({ fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) } })) != nil else {
            continue
        }
        if let channel, fds.contains(where: { $0.fd == channel && $0.revents & answerChannelClosed != 0 }) {
            return .clientGone
        }
        for entry in fds where entry.revents != 0 {
            if entry.fd == pipes.toChild?.rawValue, let stdin {
                if pending == pendingStart {
                    pendingStart = 0
                    pending = (try? stdin.read(at: stdinOffset, into: inputBuffer)) ?? 0
                    stdinOffset += UInt64(pending)
                }
                var childStopped = false
                do throws(Errno) {
                    let unsent = UnsafeRawBufferPointer(rebasing: inputBuffer[pendingStart..<pending])
                    pendingStart += try pipes.toChild?.write(unsent) ?? 0
                } catch {
                    // EPIPE: the child stopped reading; the rest of stdin is simply not wanted.
                    childStopped = error != Errno(EAGAIN)
                }
                let finished = pending == pendingStart && stdinOffset >= stdin.byteCount
                if finished || childStopped || pending == 0 { pipes.toChild = nil }
            } else if entry.fd == pipes.fromStdout?.rawValue {
                switch drain(pipes.fromStdout, into: stdout, chunk) {
                case .more: break
                case .ended: pipes.fromStdout = nil
                case .storingFailed: return .storingFailed
                }
            } else if entry.fd == pipes.fromStderr?.rawValue {
                switch drain(pipes.fromStderr, into: stderr, chunk) {
                case .more: break
                case .ended: pipes.fromStderr = nil
                case .storingFailed: return .storingFailed
                }
            }
        }
    }
    return .finished
}

private enum DrainResult { case more, ended, storingFailed }

/// One read from `pipe` into `spool`; a read error counts as the end.
private func drain(_ pipe: borrowing FileDescriptor?, into spool: Spool, _ chunk: UnsafeMutableRawBufferPointer) -> DrainResult {
    guard let got = try? pipe?.read(into: chunk), got > 0 else { return .ended }
    return spool.append(UnsafeRawBufferPointer(rebasing: chunk[0..<got])) ? .more : .storingFailed
}

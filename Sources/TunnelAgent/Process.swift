import CPosix
import TunnelWire

// ProcessRun: validate like the reference, fork/exec through the C shim (CPosix tp_spawn),
// feed stdin and drain stdout/stderr in one poll loop, answer ProcessCompleted.

extension Session {
    func handleProcessRun() throws(WireError) {
        let decoded = try ProcessRun<Spool>.decodeFields(from: &input) { (input, length) throws(WireError) in
            try input.spool(length: length)
        }
        guard let request = finishDecoding(decoded, .processRun) else { return }
        guard let plan = planProcess(request) else { return }
        switch runProcess(plan) {
        case .completed(let completed): send(completed)
        case .osError(let error, let path): sendOSError(error, path: path)
        case .processError(let message): send(ProcessError(message: message))
        }
    }

    /// Checks the request in the reference's order (umask, user, group, cwd), answering the
    /// first failure; nil when an answer was sent.
    private func planProcess(_ request: ProcessRun<Spool>) -> ProcessPlan? {
        guard !request.command.isEmpty else {
            sendInvalid("command", "The command list is empty.")
            return nil
        }
        for argument in request.command where argument.utf8.contains(0) {
            sendInvalid("command", "An argument contains a NUL byte.")
            return nil
        }
        if let stdinFailure = request.stdin?.failure {
            sendOSError(stdinFailure)
            return nil
        }
        var plan = ProcessPlan(command: request.command, stdin: request.stdin,
                               captureOutput: request.captureOutput, cwd: request.cwd)
        if let umask = request.umask {
            switch PythonInt(parsing: umask, octal: true) {
            case .invalid:
                sendInvalid("umask", octalFormatMessage(umask))
                return nil
            case .value(let value) where value >= Int64(Int32.min) && value <= Int64(Int32.max):
                plan.umask = UInt32(truncatingIfNeeded: value) & 0o777
            default:
                // Python's os.umask raises OverflowError inside preexec_fn.
                plan.umaskOverflow = true
            }
        }
        if let user = request.user {
            guard let record = resolveUserField(user, field: "user") else { return nil }
            plan.uid = record.uid
            plan.gid = record.gid
            plan.userName = record.name
        }
        if let group = request.group {
            guard let record = resolveGroupField(group) else { return nil }
            plan.gid = record.gid
        }
        if let cwd = request.cwd {
            guard !cwd.utf8.contains(0) else {
                sendInvalid("cwd", nulByteMessage)
                return nil
            }
            guard isDirectory(cwd) else {
                sendInvalid("cwd", "The directory does not exist")
                return nil
            }
        }
        return plan
    }
}

/// Everything decided before the fork.
struct ProcessPlan {
    var command: [String]
    var stdin: Spool?
    var captureOutput: Bool
    var cwd: String?
    var umask: UInt32 = 0o077
    var umaskOverflow = false
    var uid: UInt32?
    var gid: UInt32?
    var userName: String?
}

enum ProcessOutcome {
    case completed(ProcessCompleted<Spool>)
    case osError(Errno, path: String?)
    case processError(String)
}

/// `stat(path)` says it is a directory (Python's `os.path.isdir`).
func isDirectory(_ path: String) -> Bool {
    var info = stat()
    let result = path.withCString { stat($0, &info) }
    return result == 0 && FileKind(mode: info.st_mode) == .directory
}

func runProcess(_ plan: ProcessPlan) -> ProcessOutcome {
    var pipes = ChildPipes()
    defer { pipes.closeAll() }
    do throws(Errno) {
        try pipes.open(feedingStdin: plan.stdin != nil, capturing: plan.captureOutput)
    } catch {
        return .osError(error, path: nil)
    }
    var failure = tp_spawn_failure()
    let pid = spawn(plan, pipes: pipes, failure: &failure)
    pipes.closeChildEnds()
    guard pid > 0 else {
        switch failure.step {
        case Int32(TP_STEP_CHDIR): return .osError(Errno(failure.error), path: plan.cwd)
        case Int32(TP_STEP_PREEXEC): return .processError("Exception occurred in preexec_fn.")
        case Int32(TP_STEP_EXEC): return .osError(Errno(failure.error), path: plan.command[0])
        default: return .osError(Errno(failure.error), path: nil)
        }
    }
    let stdout = Spool()
    let stderr = Spool()
    pumpChild(pipes: &pipes, stdin: plan.stdin, stdout: stdout, stderr: stderr)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && tp_errno() == EINTR {}
    if let failure = stdout.failure ?? stderr.failure { return .osError(failure, path: nil) }
    return .completed(ProcessCompleted(stdout: plan.captureOutput ? stdout : nil,
                                       stderr: plan.captureOutput ? stderr : nil,
                                       returncode: tp_decode_wait_status(status)))
}

/// Builds the C request (argv and strings as C strings that live across the call).
private func spawn(_ plan: ProcessPlan, pipes: ChildPipes, failure: inout tp_spawn_failure) -> pid_t {
    let cArguments = plan.command.map { strdup($0) }
    defer { for argument in cArguments { free(argument) } }
    let argv = cArguments.map { UnsafePointer<CChar>($0) } + [nil]
    return argv.withUnsafeBufferPointer { argvBuffer in
        withOptionalCString(plan.cwd) { cwd in
            supplementaryGroups(plan).withUnsafeBufferPointer { groups in
                var request = tp_spawn_request()
                request.argv = argvBuffer.baseAddress
                request.stdin_fd = pipes.childStdin
                request.stdout_fd = pipes.childStdout
                request.stderr_fd = pipes.childStderr
                request.cwd = cwd
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

func withOptionalCString<T>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}

/// The fds between agent and child. The child's ends are passed to tp_spawn and closed in
/// the agent right after; uncaptured output goes to the agent's own stderr, never fd 1.
struct ChildPipes {
    var childStdin: Int32 = -1
    var childStdout: Int32 = 2
    var childStderr: Int32 = 2
    var toChild: Int32 = -1
    var fromStdout: Int32 = -1
    var fromStderr: Int32 = -1

    mutating func open(feedingStdin: Bool, capturing: Bool) throws(Errno) {
        if feedingStdin {
            (childStdin, toChild) = try makePipe()
            _ = tp_fcntl_int(toChild, F_SETFL, O_NONBLOCK)
            tp_grow_pipe(toChild)
        } else {
            // No stdin: /dev/null, or where there is none (a bare chroot) an empty pipe.
            childStdin = tp_open("/dev/null", O_RDONLY | O_CLOEXEC, 0)
            if childStdin < 0 {
                var writeEnd: Int32 = -1
                (childStdin, writeEnd) = try makePipe()
                close(writeEnd)
            }
        }
        if capturing {
            (fromStdout, childStdout) = try makePipe()
            (fromStderr, childStderr) = try makePipe()
            tp_grow_pipe(fromStdout)
        }
    }

    mutating func closeChildEnds() {
        for fd in [childStdin, childStdout, childStderr] where fd > 2 { close(fd) }
        childStdin = -1
        childStdout = -1
        childStderr = -1
    }

    mutating func closeAll() {
        closeChildEnds()
        for fd in [toChild, fromStdout, fromStderr] where fd >= 0 { close(fd) }
        toChild = -1
        fromStdout = -1
        fromStderr = -1
    }
}

/// (read end, write end), both close-on-exec.
func makePipe() throws(Errno) -> (Int32, Int32) {
    var fds: (Int32, Int32) = (-1, -1)
    _ = try retryingInterrupts { withUnsafeMutableBytes(of: &fds) { tp_pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self)) } }
    return fds
}

/// Feeds stdin and drains stdout and stderr together until all three are done, so that
/// neither side can block the other whatever the sizes.
private func pumpChild(pipes: inout ChildPipes, stdin: Spool?, stdout: Spool, stderr: Spool) {
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    defer { chunk.deallocate() }
    var stdinOffset: UInt64 = 0
    var pending = 0          // stdin bytes staged in `inputBuffer`: [pendingStart, pending) are unsent
    var pendingStart = 0
    let inputBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    defer { inputBuffer.deallocate() }
    if stdin == nil || stdin!.byteCount == 0 {
        if pipes.toChild >= 0 { close(pipes.toChild); pipes.toChild = -1 }
    }
    while pipes.toChild >= 0 || pipes.fromStdout >= 0 || pipes.fromStderr >= 0 {
        var fds: [pollfd] = []
        if pipes.toChild >= 0 { fds.append(pollfd(fd: pipes.toChild, events: Int16(POLLOUT), revents: 0)) }
        if pipes.fromStdout >= 0 { fds.append(pollfd(fd: pipes.fromStdout, events: Int16(POLLIN), revents: 0)) }
        if pipes.fromStderr >= 0 { fds.append(pollfd(fd: pipes.fromStderr, events: Int16(POLLIN), revents: 0)) }
        let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) }
        if ready < 0 { continue }   // EINTR
        for entry in fds where entry.revents != 0 {
            if entry.fd == pipes.toChild, let stdin {
                if pending == pendingStart {
                    pendingStart = 0
                    pending = (try? stdin.read(at: stdinOffset, into: inputBuffer)) ?? 0
                    stdinOffset += UInt64(pending)
                }
                let written = write(pipes.toChild, inputBuffer.baseAddress! + pendingStart, pending - pendingStart)
                if written > 0 { pendingStart += written }
                let finished = pending == pendingStart && stdinOffset >= stdin.byteCount
                // EPIPE: the child stopped reading; the rest of stdin is simply not wanted.
                if finished || (written < 0 && tp_errno() != EAGAIN && tp_errno() != EINTR) || pending == 0 {
                    close(pipes.toChild)
                    pipes.toChild = -1
                }
            } else if entry.fd == pipes.fromStdout {
                if !drain(entry.fd, into: stdout, chunk) { close(pipes.fromStdout); pipes.fromStdout = -1 }
            } else if entry.fd == pipes.fromStderr {
                if !drain(entry.fd, into: stderr, chunk) { close(pipes.fromStderr); pipes.fromStderr = -1 }
            }
        }
    }
}

/// One read from `fd` into `spool`; false at end of file (or a read error).
private func drain(_ fd: Int32, into spool: Spool, _ chunk: UnsafeMutableRawBufferPointer) -> Bool {
    let got = read(fd, chunk.baseAddress, chunk.count)
    if got > 0 {
        spool.append(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
        return true
    }
    return got < 0 && tp_errno() == EINTR
}

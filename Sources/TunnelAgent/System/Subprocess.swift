import CPosix
import TunnelWire

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
    /// nil: the agent's own environment; else `KEY=VALUE` entries, with argv[0] looked up
    /// on `searchPath` (the new environment's PATH).
    var environment: [[UInt8]]?
    var searchPath: [UInt8]?
    /// A pty of this size as the child's fds 0-2 and controlling terminal (RunTerminal);
    /// nil: pipes.
    var terminal: TerminalSize?

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
    /// Opening the pty (`SpawnFailure.path` names the device that failed).
    case openingTerminal
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
        if plan.terminal == nil { try pipes.open(feedingStdin: feedingStdin, capturing: plan.captureOutput) }
    } catch {
        return .failure(SpawnFailure(step: .settingUp, error: error))
    }
    if let size = plan.terminal {
        do throws(SpawnFailure) { try pipes.openTerminal(size) } catch { return .failure(error) }
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
    /// The device that failed, for `.openingTerminal`.
    var path: String? = nil
}

/// tp_spawn recorded the child as the running command (for signals that end the agent):
/// cleared before the child is reaped, so that no handler signals a pid that is free again.
func finishedWithChild() { tp_set_running_child(0) }

/// Kills the child's whole process group: whatever the command started goes with it.
/// Only for a child not reaped yet (RunSupervisor keeps it so until its last signal).
func killProcessGroup(of pid: pid_t, _ signal: Int32 = SIGKILL) {
    _ = kill(-pid, signal)
    if signal == SIGKILL { _ = kill(pid, SIGKILL) }
}

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
                // On a pty the slave (childStdin) is all three.
                let outputs = plan.terminal != nil ? pipes.childStdin?.rawValue : nil
                request.stdout_fd = outputs ?? pipes.childStdout?.rawValue ?? 2
                request.stderr_fd = outputs ?? pipes.childStderr?.rawValue ?? 2
                request.controlling_terminal = plan.terminal != nil ? 1 : 0
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

import CPosix
import TunnelWire

/// A command to run, after validation: ProcessRun's and RunEx's requests both become one
/// (Handlers/ProcessRun.swift, Handlers/RunEx.swift), supervised by `RunSupervisor`.
struct RunPlan {
    var process: ProcessPlan
    var answer: RunAnswer
    /// 0: no time limit.
    var timeoutMilliseconds: UInt64 = 0
    var graceMilliseconds: UInt64 = 0

    /// Whether the output goes out as `Output` packets while the command runs.
    var isStreamed: Bool { answer == .runFinishedStreamed }
}

/// Which answer the run ends in.
enum RunAnswer: Equatable {
    /// ProcessRun: ProcessCompleted, with both outputs when the plan captures them.
    case processCompleted
    /// A captured RunEx: RunFinished with both outputs.
    case runFinishedCaptured
    /// A streamed RunEx: Output packets, then RunFinished without outputs.
    case runFinishedStreamed
}

/// How a supervised run ended: the one place that decides the run's answer (Session).
enum RunEnding {
    /// The command ended by itself; its wait status as Python reports it.
    case exited(returncode: Int32)
    /// The time limit ended it (SIGTERM to its group, SIGKILL after the grace period).
    case timedOut(returncode: Int32)
    /// Its captured output could not be stored (the temporary directory is full, a file
    /// size limit): the group was killed. One refusal, never a short RunFinished.
    case storeFailed(Errno)
    /// The answer channel closed or broke: the group was killed; nothing more can be sent.
    case clientGone
    /// The client sent Exit during a streamed run: the group was killed.
    case exitRequested
    /// The client's stream broke during a streamed run (not a control packet, a bad id,
    /// a read error): the group was killed, and the session ends with this error.
    case brokenInput(WireError)
}

/// How a streamed run's output leaves. The session makes it and alone encodes packets: the
/// supervisor hands over bytes, and moves encoded bytes to the channel when poll says it
/// takes them.
struct RunOutlet {
    /// The answer channel: polled for POLLOUT, and for the client hanging up.
    let fd: Int32
    /// The session encodes one `Output` packet of these bytes.
    let emit: (OutputStreamName, UnsafeRawBufferPointer) -> Void
    /// Bytes encoded and not yet written.
    let pendingByteCount: () -> Int
    /// Writes what the channel takes now, without blocking or changing its flags.
    let writeWhatFits: () -> Void
    /// Whether nothing more can reach the client.
    let hasFailed: () -> Bool
}

/// The one supervisor of a child, for ProcessRun and RunEx alike: one poll loop owns the
/// child's stdin (the request's bytes, then a streamed run's `Input`s), its stdout and
/// stderr (into spools, or out as `Output` packets), the time limit, the child's pidfd,
/// the client's control packets (streamed runs only; a captured run reads no request until
/// it has answered, like ProcessRun) and the answer channel, and ends in one `RunEnding`.
///
/// The leader is never reaped inside the loop: its end is seen through the pidfd (or
/// `waitid(WNOWAIT)`), it stays a zombie, and only after the last signal to its group has
/// been sent is it reaped. Its pid, which is also the group's id, cannot be taken by
/// another process meanwhile (docs/security.md, "Signals").
final class RunSupervisor {
    let plan: RunPlan
    let pid: pid_t
    private let pipes: ChildPipes
    /// The session's input and answer channel; nil for the agent's own helper commands
    /// (getent), which nothing watches but their time.
    private let input: InputStream?
    private let outlet: RunOutlet?
    /// The captured outputs (empty for streamed runs).
    let stdout = Spool()
    let stderr = Spool()
    /// A streamed run's Input payload bytes still to come when the run ended: the session
    /// skips them, so that the stream stays in step.
    private(set) var unreadInputPayload: UInt64 = 0

    /// Streamed output: the child's pipes are read only while at most this many bytes of
    /// Output packets wait to be written, so that one more piece (`readSize` and its
    /// header) always fits in the output buffer (`ioChunkSize`) and encoding never has to
    /// wait for the client. That makes about 192 KiB of output held for a slow client.
    static let readSize = 64 * 1024
    static let outputBacklogLimit = ioChunkSize - readSize - 64
    /// Input bytes queued for the child; beyond, the session's input is not read.
    static let inputWindow = 256 * 1024

    private var exited = false
    private var timedOut = false
    private var exitWatch: FileDescriptor?
    private var storeFailure: Errno?
    private var stdinSpoolOffset: UInt64 = 0
    private var queued: [UInt8] = []
    private var queuedStart = 0
    private var closeStdinWhenDrained: Bool
    private var watchingInput: Bool
    private var terminateAt: Int64?
    private var killAt: Int64?
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: RunSupervisor.readSize, alignment: 16)

    /// Starts the child, or says which step of its start failed.
    static func start(_ plan: RunPlan, input: InputStream?, outlet: RunOutlet?) -> Result<RunSupervisor, SpawnFailure> {
        switch startChild(plan.process, feedingStdin: plan.process.stdin != nil) {
        case .failure(let failure): return .failure(failure)
        case .success(let child): return .success(RunSupervisor(plan, child: child, input: input, outlet: outlet))
        }
    }

    private init(_ plan: RunPlan, child: StartedChild, input: InputStream?, outlet: RunOutlet?) {
        self.plan = plan
        pid = child.pid
        pipes = child.pipes
        self.input = input
        self.outlet = outlet
        // Captured runs get exactly the request's stdin; streamed ones keep it open for Inputs.
        closeStdinWhenDrained = !plan.isStreamed
        watchingInput = plan.isStreamed && input != nil
        if let watch = try? retryingInterrupts({ tp_pidfd_open(child.pid) }) { exitWatch = .some(FileDescriptor(taking: watch)) }
        if plan.timeoutMilliseconds > 0 { terminateAt = later(monotonicMilliseconds(), by: plan.timeoutMilliseconds) }
        // A pty's input is the terminal's keyboard: open whatever the request's stdin.
        if plan.process.stdin == nil && plan.process.terminal == nil { pipes.toChild = nil }
    }

    deinit { chunk.deallocate() }

    /// Supervises the child to its end, then reaps it (after the last signal to its group).
    func run() -> RunEnding {
        let ending = supervise()
        switch ending {
        case .exited, .timedOut: break
        default: killProcessGroup(of: pid)
        }
        pipes.closeAll()
        exitWatch = nil
        // From here on, nothing signals the pid: not this loop, not the agent's own
        // signal handlers, which pass a SIGTERM on to the running command.
        finishedWithChild()
        var status: Int32 = 0
        _ = try? retryingInterrupts { waitpid(pid, &status, 0) }
        let returncode = tp_decode_wait_status(status)
        switch ending {
        case .exited: return timedOut ? .timedOut(returncode: returncode) : .exited(returncode: returncode)
        case .timedOut: return .timedOut(returncode: returncode)
        default: return ending
        }
    }

    /// The poll loop; returns once the child has ended (unreaped) and its outputs are
    /// closed, or as soon as something else ends the run.
    private func supervise() -> RunEnding {
        while true {
            if let storeFailure { return .storeFailed(storeFailure) }
            if outlet?.hasFailed() == true { return .clientGone }
            if let ending = takeControlPackets() { return ending }
            if exited { stopReadingAnIdleTerminal() }
            if exited && pipes.fromStdout == nil && pipes.fromStderr == nil { return .exited(returncode: 0) }
            if let ending = pollOnce() { return ending }
        }
    }

    /// One poll and what it reported.
    private func pollOnce() -> RunEnding? {
        var fds: [pollfd] = []
        func watch(_ fd: Int32?, _ events: Int32) {
            if let fd { fds.append(pollfd(fd: fd, events: Int16(events), revents: 0)) }
        }
        if !plan.isStreamed || pendingOutput <= RunSupervisor.outputBacklogLimit {
            watch(pipes.fromStdout?.rawValue, POLLIN)
            watch(pipes.fromStderr?.rawValue, POLLIN)
        }
        closeStdinIfDrained()
        if hasStdinToWrite { watch(pipes.toChild?.rawValue, POLLOUT) }
        // Always watched: its hang-up means the client is gone.
        watch(outlet?.fd, pendingOutput > 0 ? POLLOUT : 0)
        if !exited { watch(exitWatch?.rawValue, POLLIN) }
        if let input, watchingInput && input.hasRoom && queuedForChild < RunSupervisor.inputWindow { watch(input.fd, POLLIN) }
        var timeout = millisecondsToNextDeadline()
        // Without a pidfd (Linux before 5.3) the child's end is asked for every 100 ms.
        if !exited && exitWatch == nil && (timeout < 0 || timeout > 100) { timeout = 100 }
        _ = try? retryingInterrupts { fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) } }
        checkDeadlines()
        for entry in fds where entry.revents != 0 {
            let fd = entry.fd
            if let outlet, fd == outlet.fd {
                if entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return .clientGone }
                outlet.writeWhatFits()
            } else if fd == pipes.fromStdout?.rawValue {
                forward(from: .stdout)
            } else if fd == pipes.fromStderr?.rawValue {
                forward(from: .stderr)
            } else if fd == pipes.toChild?.rawValue {
                writeStdin()
            } else if fd == exitWatch?.rawValue {
                noteExit()
            } else if fd == input?.fd {
                if let ending = readInput() { return ending }
            }
        }
        if !exited && exitWatch == nil && tp_child_has_ended(pid) == 1 { noteExit() }
        if pendingOutput > 0 { outlet?.writeWhatFits() }
        return nil
    }

    /// Output packets of a streamed run not written yet.
    private var pendingOutput: Int { plan.isStreamed ? outlet?.pendingByteCount() ?? 0 : 0 }

    /// The leader has ended: it stays unreaped (a zombie) until `run` has sent its last signal.
    private func noteExit() {
        exited = true
        exitWatch = nil
        // Whatever the command left behind after a time limit goes with it.
        if timedOut { killProcessGroup(of: pid) }
    }

    // MARK: The child's output

    private func forward(from name: OutputStreamName) {
        // A read error counts as the end.
        let got = name == .stdout ? ((try? pipes.fromStdout?.read(into: chunk)) ?? 0)
                                  : ((try? pipes.fromStderr?.read(into: chunk)) ?? 0)
        guard got > 0 else {
            if name == .stdout { pipes.fromStdout = nil } else { pipes.fromStderr = nil }
            return
        }
        let piece = UnsafeRawBufferPointer(rebasing: chunk[0..<got])
        if plan.isStreamed {
            outlet?.emit(name, piece)
            return
        }
        let spool = name == .stdout ? stdout : stderr
        if !spool.append(piece) { storeFailure = spool.failure }
    }

    /// A pty's master never reaches its end while a process the command left in the
    /// background holds the slave: once the command has ended, its output ends with what
    /// the terminal holds now (as sshd ends a pty session with its shell).
    private func stopReadingAnIdleTerminal() {
        guard plan.process.terminal != nil, let fd = pipes.fromStdout?.rawValue,
              pendingOutput <= RunSupervisor.outputBacklogLimit else { return }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if (try? retryingInterrupts({ poll(&entry, 1, 0) })) == 0 { pipes.fromStdout = nil }
    }

    // MARK: The child's stdin

    private var queuedForChild: Int { queued.count - queuedStart }

    /// Whether the request's stdin has been read into the queue to its end.
    private var requestStdinQueued: Bool { stdinSpoolOffset >= plan.process.stdin?.byteCount ?? 0 }

    private var hasStdinToWrite: Bool {
        guard pipes.toChild != nil else { return false }
        if queuedForChild > 0 { return true }
        if let spool = plan.process.stdin, stdinSpoolOffset < spool.byteCount { return true }
        return false
    }

    /// The child's stdin ends once everything for it was written and no more may come.
    private func closeStdinIfDrained() {
        if closeStdinWhenDrained && !hasStdinToWrite { pipes.toChild = nil }
    }

    private func writeStdin() {
        if queuedForChild == 0, let spool = plan.process.stdin, stdinSpoolOffset < spool.byteCount {
            let got = (try? spool.read(at: stdinSpoolOffset, into: chunk)) ?? 0
            stdinSpoolOffset = got > 0 ? stdinSpoolOffset + UInt64(got) : spool.byteCount
            queued = Array(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
            queuedStart = 0
        }
        // Array's withUnsafeBytes only rethrows untyped errors: the result carries ours out.
        let result: Result<Int, Errno> = queued.withUnsafeBytes { raw in
            do throws(Errno) {
                return .success(try pipes.toChild?.write(UnsafeRawBufferPointer(rebasing: raw[queuedStart...])) ?? 0)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let written):
            queuedStart += written
        case .failure(let error):
            // EPIPE: the child stopped reading; the rest of its input is not wanted.
            if error != Errno(EAGAIN) {
                pipes.toChild = nil
                queued.removeAll()
                queuedStart = 0
            }
        }
        if queuedStart == queued.count {
            queued.removeAll(keepingCapacity: true)
            queuedStart = 0
        }
    }

    // MARK: The client's packets during a streamed run

    /// One read from fd 0, which poll said readable: it does not block.
    private func readInput() -> RunEnding? {
        guard let input else { return nil }
        do throws(WireError) {
            if try input.readAvailable() == 0 {
                // The client sends nothing more (it may still be reading the output), so no
                // CloseInput can come: the child's stdin ends here, as ssh passes on an EOF.
                watchingInput = false
                closeStdinWhenDrained = true
            }
            return nil
        } catch {
            return .brokenInput(error)
        }
    }

    /// Acts on every control packet buffered whole, and queues the Input payload bytes
    /// that are there (within the input window); never waits for more.
    private func takeControlPackets() -> RunEnding? {
        guard plan.isStreamed, let input else { return nil }
        while true {
            if unreadInputPayload > 0 {
                // Input bytes go after the request's own stdin, all of it.
                let room = pipes.toChild == nil ? Int.max : requestStdinQueued ? RunSupervisor.inputWindow - queuedForChild : 0
                let count = Int(min(UInt64(min(input.buffered.count, room)), unreadInputPayload))
                guard count > 0 else { return nil }
                if pipes.toChild != nil { queued.append(contentsOf: UnsafeRawBufferPointer(rebasing: input.buffered[0..<count])) }
                input.consume(count)
                unreadInputPayload -= UInt64(count)
                writeStdin()
                continue
            }
            let frame: ControlFrame?
            do throws(WireError) { frame = try input.takeControlFrame() } catch { return .brokenInput(error) }
            switch frame {
            case nil:
                return nil
            case .input(let length):
                unreadInputPayload = length
            case .closeInput:
                closeStdinWhenDrained = true
            case .signal(let number):
                // Only real signals; 0 would merely probe, and others are not signals at all.
                // The leader is unreaped, so the group id is still this run's.
                if number > 0 && number < 65 { _ = kill(-pid, number) }
            case .exit:
                return .exitRequested
            case .windowSize(let size):
                if plan.process.terminal != nil { pipes.resizeTerminal(size) }
            }
        }
    }

    // MARK: Time limit

    private func millisecondsToNextDeadline() -> Int32 {
        guard let next = [terminateAt, killAt].compactMap({ $0 }).min() else { return -1 }
        return Int32(clamping: max(0, next - monotonicMilliseconds()))
    }

    /// The time limit: SIGTERM to the whole group, then SIGKILL after the grace period.
    private func checkDeadlines() {
        let now = monotonicMilliseconds()
        if let terminateAt, now >= terminateAt {
            self.terminateAt = nil
            timedOut = true
            killProcessGroup(of: pid, SIGTERM)
            killAt = later(now, by: plan.graceMilliseconds)
            if exited { killProcessGroup(of: pid) }
        }
        if let killAt, now >= killAt {
            self.killAt = nil
            killProcessGroup(of: pid)
        }
    }
}

extension RunSupervisor {
    /// The stdout of one of the agent's own helper commands (getent), captured, when it
    /// exited with status 0.
    static func outputOfHelper(_ process: ProcessPlan) -> Spool? {
        guard case .success(let supervisor) = start(RunPlan(process: process, answer: .runFinishedCaptured),
                                                    input: nil, outlet: nil),
              case .exited(0) = supervisor.run() else { return nil }
        return supervisor.stdout
    }
}

/// `now` plus a client's count of milliseconds, which may be anything: saturating, never trapping.
private func later(_ now: Int64, by milliseconds: UInt64) -> Int64 {
    let (sum, overflow) = now.addingReportingOverflow(Int64(clamping: milliseconds))
    return overflow ? Int64.max : sum
}

func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

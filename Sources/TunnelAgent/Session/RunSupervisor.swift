import CPosix
import TunnelWire

/// A RunEx request after validation (Handlers/RunEx.swift).
struct RunExPlan {
    var process: ProcessPlan
    var stream: Bool
    var timeoutMilliseconds: UInt64
    var graceMilliseconds: UInt64
}

/// How a supervised run ended, for the session.
enum RunEnding {
    /// RunFinished (or the refusal of a child that could not start) was written.
    case answered
    /// The client sent Exit during the run: the child's group was killed.
    case exitRequested
}

/// Runs a RunEx child inside the session, in one poll loop: the child's stdin (the
/// request's bytes, then `Input` packets), its two outputs (as `Output` packets, or into
/// spools when captured), the client's `Signal`s, the time limit, and the client going
/// away. Memory stays bounded: streamed output waits in a window of the output buffer, and
/// the child's pipes are not read while the client does not take it (backpressure).
final class RunSupervisor {
    private let plan: RunExPlan
    private let input: InputStream
    private let output: OutputStream
    /// Streamed output waits here until the client takes it; beyond, the pipes are not read.
    static let outputWindow = 64 * 1024
    /// Input bytes queued for the child; beyond, the session's input is not read.
    static let inputWindow = 256 * 1024

    init(_ plan: RunExPlan, input: InputStream, output: OutputStream) {
        self.plan = plan
        self.input = input
        self.output = output
    }

    func run() throws(WireError) -> RunEnding {
        let child: StartedChild
        switch startChild(plan.process, feedingStdin: plan.process.stdin != nil) {
        case .failure(let failure):
            Session.encode(.refused(.startFailure(failure, of: plan.process)), to: output, extensionRequest: true)
            return .answered
        case .success(let started): child = started
        }
        defer { finishedWithChild() }
        let loop = RunLoop(child: child, plan: plan, input: input, output: output)
        // Streamed output must never block the loop: the answer channel is non-blocking
        // for the run, and the session's flush-before-read is off (the loop flushes).
        let savedFlags = tp_fcntl_int(output.fd, F_GETFL, 0)
        if plan.stream { _ = tp_fcntl_int(output.fd, F_SETFL, savedFlags | O_NONBLOCK) }
        let savedHook = input.beforeBlocking
        input.beforeBlocking = {}
        defer {
            input.beforeBlocking = savedHook
            if plan.stream { _ = tp_fcntl_int(output.fd, F_SETFL, savedFlags) }
        }
        let ending = try loop.run()
        if ending == .exitRequested { return .exitRequested }
        _ = tp_fcntl_int(output.fd, F_SETFL, savedFlags)
        var writer = output
        RunFinished(returncode: loop.returncode, timedOut: loop.timedOut,
                    stdout: plan.stream ? nil : loop.stdout, stderr: plan.stream ? nil : loop.stderr).encode(to: &writer)
        return .answered
    }

}

/// The state of one supervised run and its poll loop.
private final class RunLoop {
    let pid: pid_t
    let pipes: ChildPipes
    let plan: RunExPlan
    let input: InputStream
    let output: OutputStream
    let stdout = Spool()
    let stderr = Spool()
    private(set) var returncode: Int32 = 0
    private(set) var timedOut = false
    private var exited = false
    private var exitWatch: FileDescriptor?
    /// Bytes for the child's stdin not written yet: the request's spool first, then Inputs.
    private var stdinSpoolOffset: UInt64 = 0
    private var queued: [UInt8] = []
    private var queuedStart = 0
    private var closeStdinWhenDrained: Bool
    private var watchingInput = true
    private var terminateAt: Int64?
    private var killAt: Int64?
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(child: StartedChild, plan: RunExPlan, input: InputStream, output: OutputStream) {
        pid = child.pid
        pipes = child.pipes
        self.plan = plan
        self.input = input
        self.output = output
        // Captured runs get exactly the request's stdin; streamed ones keep it open for Inputs.
        closeStdinWhenDrained = !plan.stream
        if let watch = try? retryingInterrupts({ tp_pidfd_open(child.pid) }) { exitWatch = .some(FileDescriptor(taking: watch)) }
        if plan.timeoutMilliseconds > 0 { terminateAt = later(monotonicMilliseconds(), by: plan.timeoutMilliseconds) }
        if plan.process.stdin == nil { pipes.toChild = nil }
    }

    deinit { chunk.deallocate() }

    func run() throws(WireError) -> RunEnding {
        while pipes.fromStdout != nil || pipes.fromStderr != nil || !exited {
            if !exited && exitWatch == nil && pipes.fromStdout == nil && pipes.fromStderr == nil {
                reap(blocking: true)   // no pidfd (Linux < 5.3): the outputs' end is the sign
                break
            }
            if let ending = try step() { return ending }
        }
        if !exited { reap(blocking: true) }
        return .answered
    }

    /// One poll and what it reported; an ending when the session must stop here.
    private func step() throws(WireError) -> RunEnding? {
        var fds: [pollfd] = []
        func watch(_ fd: Int32?, _ events: Int32) {
            if let fd { fds.append(pollfd(fd: fd, events: Int16(events), revents: 0)) }
        }
        let roomForOutput = !plan.stream || output.used <= output.buffer.count - RunSupervisor.outputWindow - 64
        if roomForOutput {
            watch(pipes.fromStdout?.rawValue, POLLIN)
            watch(pipes.fromStderr?.rawValue, POLLIN)
        }
        closeStdinIfDrained()
        if hasStdinToWrite { watch(pipes.toChild?.rawValue, POLLOUT) }
        // The answer channel: its hang-up means the client is gone.
        watch(output.fd, plan.stream && output.used > 0 ? POLLOUT : 0)
        if !exited { watch(exitWatch?.rawValue, POLLIN) }
        let takingInput = watchingInput && queued.count - queuedStart < RunSupervisor.inputWindow
        if takingInput { watch(input.fd, POLLIN) }
        let timeout = takingInput && input.hasBufferedBytes ? 0 : millisecondsToNextDeadline()
        _ = try? retryingInterrupts { fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) } }
        checkDeadlines()
        for entry in fds where entry.revents != 0 {
            let fd = entry.fd
            if fd == output.fd {
                if entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return clientGone() }
                output.flushAvailable()
                if output.failure != nil { return clientGone() }
            } else if fd == pipes.fromStdout?.rawValue {
                forward(from: .stdout)
            } else if fd == pipes.fromStderr?.rawValue {
                forward(from: .stderr)
            } else if fd == pipes.toChild?.rawValue {
                writeStdin()
            } else if fd == exitWatch?.rawValue {
                reap(blocking: false)
            }
        }
        if plan.stream && output.used > 0 { output.flushAvailable() }
        if output.failure != nil { return clientGone() }
        if takingInput && (input.hasBufferedBytes || fds.contains(where: { $0.fd == input.fd && $0.revents != 0 })) {
            return try takeControlPacket()
        }
        return nil
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
        if plan.stream {
            var writer = output
            Output(stream: name, data: RawBytes(piece)).encode(to: &writer)
        } else if !(name == .stdout ? stdout : stderr).append(piece) {
            // The temporary directory is full: ended as ProcessRun ends it.
            killProcessGroup(of: pid)
        }
    }

    // MARK: The child's stdin

    private var hasStdinToWrite: Bool {
        guard pipes.toChild != nil else { return false }
        if queued.count > queuedStart { return true }
        if let spool = plan.process.stdin, stdinSpoolOffset < spool.byteCount { return true }
        return false
    }

    /// The child's stdin ends once everything for it was written and no more may come.
    private func closeStdinIfDrained() {
        if closeStdinWhenDrained && !hasStdinToWrite { pipes.toChild = nil }
    }

    private func writeStdin() {
        if queued.count == queuedStart, let spool = plan.process.stdin, stdinSpoolOffset < spool.byteCount {
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
            if error != Errno(EAGAIN) { stopStdin() }
        }
        if queuedStart == queued.count {
            queued.removeAll(keepingCapacity: true)
            queuedStart = 0
        }
    }

    private func stopStdin() {
        pipes.toChild = nil
        queued.removeAll()
        queuedStart = 0
    }

    // MARK: The client's packets during the run

    private func takeControlPacket() throws(WireError) -> RunEnding? {
        var input = self.input
        let id: PacketID
        do throws(WireError) {
            id = try input.readPacketID()
        } catch .endOfStream {
            // The client sends nothing more (it may still be reading the output), so no
            // CloseInput can come: the child's stdin ends here, as ssh passes on an EOF.
            watchingInput = false
            closeStdinWhenDrained = true
            closeStdinIfDrained()
            return nil
        }
        switch id {
        case .input:
            let data = try Input.decodeFields(from: &input).data
            if pipes.toChild != nil {
                queued += data
                writeStdin()
            }
        case .closeInput:
            closeStdinWhenDrained = true
            closeStdinIfDrained()
        case .signal:
            let number = try Signal.decodeFields(from: &input).number
            // Only real signals; 0 would merely probe, and others are not signals at all.
            if number > 0 && number < 65 { _ = kill(-pid, number) }
        case .exit:
            killProcessGroup(of: pid)
            reap(blocking: true)
            return .exitRequested
        default:
            killProcessGroup(of: pid)
            reap(blocking: true)
            throw .unexpectedDuringRun(id)
        }
        return nil
    }

    // MARK: Time limit and the end

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
        }
        if let killAt, now >= killAt {
            self.killAt = nil
            killProcessGroup(of: pid)
        }
    }

    private func reap(blocking: Bool) {
        var status: Int32 = 0
        let result = try? retryingInterrupts { waitpid(pid, &status, blocking ? 0 : WNOHANG) }
        guard let result, result == pid else { return }
        exited = true
        exitWatch = nil
        returncode = tp_decode_wait_status(status)
        // Whatever the command left behind after a time limit goes with it.
        if timedOut { killProcessGroup(of: pid) }
    }

    private func clientGone() -> RunEnding {
        killProcessGroup(of: pid)
        reap(blocking: true)
        return .answered   // the output's failure ends the session
    }
}

/// Bytes borrowed for one write (an `Output` packet's data, straight from the read buffer).
private struct RawBytes: WirePayload {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var byteCount: UInt64 { UInt64(bytes.count) }
    func writeContent<W: WireWriter>(to writer: inout W) { writer.write(bytes) }
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

import TunnelWire

/// What RunEx runs, and how (docs/protocol.md, "Extensions").
public struct RunOptions: Sendable {
    /// argv as bytes; never run through a shell.
    public var command: [[UInt8]]
    /// Where the environment starts: the agent's, empty, or a login's.
    public var environment: EnvironmentBase = .agent
    /// `KEY=VALUE` sets, `KEY` alone removes, in order, on top of `environment`.
    public var setEnvironment: [String] = []
    /// Run as this user (name or uid), with its groups.
    public var user: String?
    /// Run with this group (name or gid).
    public var group: String?
    /// Octal text; the agent's default is 077.
    public var umask: String?
    /// The working directory (a login run defaults to HOME).
    public var cwd: [UInt8]?
    /// Seconds; nil for none. Then SIGTERM to the process group, and SIGKILL after `grace`.
    public var timeout: Double?
    /// Seconds between SIGTERM and SIGKILL when the time limit fires.
    public var grace: Double = 2
    /// Captured runs: all of stdin. Streamed runs: the first bytes; `send` adds more. Absent: /dev/null.
    public var stdin: [UInt8]?
    /// Streamed runs only: run on a pseudo-terminal of this size (RunTerminal), its output
    /// one stream; `StreamedRun.resize` follows the local window. nil: pipes.
    public var terminal: TerminalSize?

    /// Options for `command`, everything else at its default.
    public init(_ command: [String]) { self.command = command.map { Array($0.utf8) } }

    func packet(stream: Bool) -> RunEx<[UInt8]> {
        RunEx(command: command, environment: environment, setEnvironment: setEnvironment.map { Array($0.utf8) },
              user: user, group: group, umask: umask, cwd: cwd,
              timeoutMilliseconds: timeout.map { UInt64(max(1, ($0 * 1000).rounded())) } ?? 0,
              graceMilliseconds: UInt64(max(0, (grace * 1000).rounded())), stream: stream, stdin: stdin)
    }
}

/// One event of a streamed run.
public enum RunEvent: Sendable, Equatable {
    case output(OutputStreamName, [UInt8])
    /// The exit status, or -N for signal N; whether the time limit ended it.
    case finished(returncode: Int32, timedOut: Bool)
}

extension TunnelConnection {
    /// Runs to the end with the output captured whole.
    public func run(_ options: RunOptions) throws(TunnelError) -> RunFinished<[UInt8]> {
        try require(.runEx)
        return try request(options.packet(stream: false), expecting: RunFinished<[UInt8]>.self)
    }

    /// Starts a run whose output arrives as it is written: read it with `StreamedRun.next()`
    /// (or `events()`); until `.finished`, the connection serves this run only.
    public func startStreamedRun(_ options: RunOptions) throws(TunnelError) -> StreamedRun {
        try require(options.terminal == nil ? .runEx : .runTerminal)
        try checkUsable()
        var output = transport.output
        if let size = options.terminal {
            RunTerminal(size: size, run: options.packet(stream: true)).encode(to: &output)
        } else {
            options.packet(stream: true).encode(to: &output)
        }
        try send()
        // Read here, not with the first event: a run may wait for its input before it says
        // anything, and the caller forwards that input only once this returns.
        try readPendingHello()
        return StreamedRun(connection: self)
    }

    /// The next Output or RunFinished of a streamed run, or the refusal of one that could
    /// not start.
    func nextRunEvent() throws(TunnelError) -> RunEvent {
        try checkUsable()
        var input = transport.input
        let event: Result<RunEvent, TunnelError>
        do throws(WireError) {
            switch try input.readPacketID() {
            case .output:
                let piece = try Output<[UInt8]>.decodeFields(from: &input)
                event = .success(.output(piece.stream, piece.data))
            case .runFinished:
                let end = try RunFinished<[UInt8]>.decodeFields(from: &input)
                event = .success(.finished(returncode: end.returncode, timedOut: end.timedOut))
            case let id:
                let refusal = try Self.refusal(id, from: &input)
                if case .unexpectedAnswer = refusal { broken = refusal }
                event = .failure(refusal)
            }
        } catch {
            let failure = explain(error)
            broken = failure
            throw failure
        }
        answered = true
        return try event.get()
    }

    /// Sends a packet that has no answer (a streamed run's Input, CloseInput, Signal).
    func sendWithoutAnswer<P: Packet>(_ packet: P) throws(TunnelError) {
        try checkUsable()
        var output = transport.output
        packet.encode(to: &output)
        try send()
    }

    /// The descriptor answers arrive on, and whether some are buffered already: for a poll
    /// loop that also waits on other things (a terminal's input).
    public var answerDescriptor: Int32 { transport.input.fd }
    /// Whether an answer is already buffered (then `answerDescriptor` may never poll readable).
    public var hasBufferedAnswer: Bool { transport.input.hasBufferedBytes }
}

/// A run in progress whose output streams in (RunEx with `stream`).
public final class StreamedRun: @unchecked Sendable {
    private let connection: TunnelConnection
    private var finished = false
    /// Sends may come from another task than the one reading events.
    private let sending = Mutex()

    init(connection: TunnelConnection) {
        self.connection = connection
    }

    /// The next event; after `.finished` the connection serves other requests again.
    public func next() throws(TunnelError) -> RunEvent {
        let event = try connection.nextRunEvent()
        if case .finished = event { finished = true }
        return event
    }

    /// More bytes for the command's stdin (in pieces of at most 64 KiB).
    public func send(_ bytes: [UInt8]) throws(TunnelError) {
        var start = 0
        while start < bytes.count {
            let end = min(start + 65536, bytes.count)
            try locked { () throws(TunnelError) in try connection.sendWithoutAnswer(Input(data: Array(bytes[start..<end]))) }
            start = end
        }
    }

    /// The command's stdin reaches its end.
    public func closeInput() throws(TunnelError) {
        try locked { () throws(TunnelError) in try connection.sendWithoutAnswer(CloseInput()) }
    }

    /// A terminal run's window changed size (the local SIGWINCH); the agent resizes the pty.
    public func resize(to size: TerminalSize) throws(TunnelError) {
        try locked { () throws(TunnelError) in try connection.sendWithoutAnswer(WindowSize(size: size)) }
    }

    /// Sends `number` to the command's process group (SIGINT for Ctrl-C).
    public func signal(_ number: Int32) throws(TunnelError) {
        try locked { () throws(TunnelError) in try connection.sendWithoutAnswer(Signal(number: number)) }
    }

    /// The events as an async sequence, read on a task of their own. Ending the iteration
    /// early (a `break`, a cancelled task) ends the transport, and with it the remote command.
    public func events() -> AsyncThrowingStream<RunEvent, Error> {
        AsyncThrowingStream { continuation in
            continuation.onTermination = { [self] ending in
                if case .cancelled = ending, !self.finished { self.connection.transport.terminate() }
            }
            Task.detached { [self] in
                do {
                    while true {
                        let event = try self.next()
                        continuation.yield(event)
                        if case .finished = event { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    private func locked(_ body: () throws(TunnelError) -> Void) throws(TunnelError) {
        try sending.withLock(body)
    }
}

@_exported import TunnelWire

/// A session with a tunnel agent over any transport command, e.g.
/// `["ssh", "host", "/tmp/tunnel-dispatcher"]` or `["docker", "exec", "-i", "box", "/tunnel-dispatcher"]`.
/// One request at a time; every method sends one request and waits for its answer. A
/// connection is not `Sendable`: use it from one task at a time (`perform` runs it off the
/// caller's task, with cancellation).
/// Opening a connection sets SIGPIPE to "ignore" in this process, so that an agent that
/// vanishes is an error (`.transport`) and not the death of the host program.
///
///     let agent = try TunnelConnection(command: ["ssh", "web1", "./tunnel-dispatcher"])
///     let result = try agent.run(["uname", "-a"])
///     try agent.upload("/etc/motd", content: Array("hello\n".utf8), mode: "644")
///     _ = agent.close()
public final class TunnelConnection {
    let transport: Transport
    var closed = false
    /// Whether any answer arrived: garbage before the first one is a chatty remote shell.
    var answered = false
    /// Set once the stream can no longer be trusted (a protocol error, an unexpected answer).
    var broken: TunnelError?

    /// What the bootstrap did (nil for a `.command` route, where the agent was already there;
    /// nil until the first request's answer when the first packets went ahead, see `init`).
    public internal(set) var bootstrap: BootstrapReport?

    /// The bootstrap still to be read, while the first packets are held (see `init`).
    var pendingStart: PendingStart?

    /// Starts `command` and checks that an agent answers at its other end.
    public convenience init(command: [String]) throws(TunnelError) {
        try self.init(route: .command(command))
    }

    /// What the agent answered to `Hello`; nil when the connection was opened without it
    /// (`negotiating: false`, for fora's Python dispatcher, which aborts on it), and until
    /// the first answer when Hello left with the first request (see `init`).
    public private(set) var hello: HelloResult?

    /// Hello's answer is still unread: it is read with the first answer (see `init`).
    var helloPending = false

    /// Whether the agent serves extension request `id` (see docs/protocol.md, "Extensions").
    /// Before Hello's answer is read, only an agent of this build's is asked (see `init`):
    /// it serves what this build's agent serves.
    public func serves(_ id: PacketID) -> Bool {
        if let hello { return hello.extensions.contains(id.rawValue) }
        return helloPending && PacketID.extensionRequests.contains(id)
    }

    /// Reaches the target by `route`. Through ssh or a container engine, the agent is
    /// bootstrapped first: the target's cached copy, or `agents` (default: the ones found
    /// beside this program, see `AgentBinaries.locate`) sent over the same connection.
    /// With `negotiating`, it opens with `Hello`; an agent that does not know it (fora's
    /// Python dispatcher) ends the session, which is `TunnelError.extensionsUnsupported`: open
    /// again without. `log` hears each step (`tunnel -v`).
    /// When the bootstrap started the agent this program found beside it (`agents` nil),
    /// CheckAlive and Hello wait for the first request and leave with it (issue 20).
    /// `durableUploads` (with `negotiating`) asks that this session's uploads be answered only
    /// once synced to disk, grouped when pipelined (docs/protocol.md, "Durability").
    /// In that case the first packets do not wait for the snippet's `start` line either: they
    /// leave with the first request, right behind the snippet (`Bootstrap.sendAhead`), and
    /// the bootstrap's lines are read before their answers: a start waits for one round
    /// trip less. Its failures then come from the first request.
    public init(route: Route, agents: AgentBinaries? = nil, negotiating: Bool = false, durableUploads: Bool = false,
                log: @escaping (String) -> Void = { _ in }) throws(TunnelError) {
        var snippet: [String] = []
        var binaries = agents
        if route.bootstraps {
            if binaries == nil { binaries = try AgentBinaries.locate() }
            snippet = Bootstrap.snippetCommand(agents: binaries!, sudo: route.runsSudo)
        }
        transport = try Transport(command: try route.transportCommand(snippet: snippet))
        let sendsAhead = negotiating && agents == nil && binaries != nil
        if let binaries {
            if sendsAhead {
                pendingStart = PendingStart(agents: binaries, route: route, log: log)
                transport.output.holding = true
            } else {
                Bootstrap.sendAhead([], over: transport)
                bootstrap = try Bootstrap.perform(over: transport, agents: binaries, route: route, log: log)
            }
        }
        // CheckAlive and Hello leave together: a round trip less per start, each one several
        // process wake-ups through ssh (issue 20). The answers are read in order, so an agent
        // that answers CheckAlive and then ends on Hello is still told from one that never
        // answered.
        var output = transport.output
        CheckAlive().encode(to: &output)
        // Extension refusals as Failure: classified by fields (TunnelError.init(_: Failure)).
        if negotiating { Hello(durableUploads: durableUploads, structuredFailures: true).encode(to: &output) }
        // The bootstrap started the agent whose hash this program knows, one of its own build:
        // it knows Hello and serves what `PacketID.extensionRequests` lists. Then CheckAlive
        // and Hello wait in the buffer for the first request and leave with it, and their
        // answers are read before its own: one round trip through ssh less per start (issue
        // 20). They do not wait for the snippet's `start` line either (`finishStart`).
        // Agents given by the caller (`agents`) may be of another build, and a `.command`
        // route (fora's Python dispatcher) may not know Hello: those are asked first and
        // answered before the init returns.
        if sendsAhead {
            helloPending = true
            return
        }
        do throws(TunnelError) {
            // Once the agent answers, ssh needs the terminal no more: Ctrl-C is tunnel's again.
            defer { transport.terminalLoan?.end() }
            _ = try answer(expecting: Ack.self)
        } catch {
            _ = transport.finish()
            throw error
        }
        guard negotiating else { return }
        do throws(TunnelError) {
            hello = try answer(expecting: HelloResult.self)
        } catch .transport {
            // It answered CheckAlive and then ended: it does not know the extensions.
            throw .extensionsUnsupported
        }
    }

    deinit { if !closed { _ = close() } }

    /// Sends Exit and waits for the transport to end; returns its exit status.
    @discardableResult
    public func close() -> Int32 {
        guard !closed else { return 0 }
        closed = true
        // Nothing was asked: the snippet sees the end of its input, and nothing starts.
        if pendingStart != nil { return transport.finish(flushing: false) }
        var output = transport.output
        Exit().encode(to: &output)
        output.flush()
        return transport.finish()
    }

    // MARK: Requests

    /// Runs `command` (argv, never a shell). A non-zero exit status is a result, not an error.
    public func run(_ command: [String], stdin: [UInt8]? = nil, captureOutput: Bool = true,
                    user: String? = nil, group: String? = nil, umask: String? = nil,
                    cwd: String? = nil) throws(TunnelError) -> ProcessCompleted<[UInt8]> {
        let packet = ProcessRun(command: command, stdin: stdin, captureOutput: captureOutput,
                                user: user, group: group, umask: umask, cwd: cwd)
        return try request(packet, expecting: ProcessCompleted<[UInt8]>.self)
    }

    /// The file's metadata (and SHA-512 when asked), or nil when there is no such file.
    public func stat(_ path: String, followLinks: Bool = false, sha512: Bool = false) throws(TunnelError) -> StatResult? {
        do throws(TunnelError) {
            return try request(Stat(path: path, followLinks: followLinks, sha512sum: sha512), expecting: StatResult.self)
        } catch .invalidField(let field) where field.field == "path" && field.errorMessage.hasPrefix("[Errno 2]") {
            return nil
        }
    }

    /// Replaces `path` with `content` (atomically, on this agent).
    public func upload(_ path: String, content: [UInt8], mode: String? = nil, owner: String? = nil,
                       group: String? = nil) throws(TunnelError) {
        _ = try request(Upload(file: path, content: content, mode: mode, owner: owner, group: group), expecting: Ok.self)
    }

    /// Replaces `path` with the content of `file`, streamed: memory does not grow with its size.
    public func upload(_ path: String, streaming file: FileContent, mode: String? = nil, owner: String? = nil,
                       group: String? = nil) throws(TunnelError) {
        try checkUsable()
        try finishStart()   // the content streams: it is not held for the bootstrap
        var output = transport.output
        Upload(file: path, content: file, mode: mode, owner: owner, group: group).encode(to: &output)
        if let failure = file.failure {
            // Abandon the session: the agent sees the upload cut short and keeps the old file.
            closed = true
            _ = transport.finish(flushing: false)
            throw .transport("upload of \(path) abandoned: \(failure)")
        }
        _ = try answer(expecting: Ok.self)
    }

    /// The whole content of `path`, in memory. For large files, `download(_:to:)`.
    public func download(_ path: String) throws(TunnelError) -> [UInt8] {
        try request(Download(file: path), expecting: DownloadResult<[UInt8]>.self).content
    }

    /// Streams the content of `path` to `consume`, piece by piece as it arrives: memory does
    /// not grow with the file's size. When `consume` returns false (a local write failed),
    /// the rest cannot be skipped cheaply, so the connection is abandoned.
    public func download(_ path: String, to consume: (UnsafeRawBufferPointer) -> Bool) throws(TunnelError) {
        try checkUsable()
        var output = transport.output
        Download(file: path).encode(to: &output)
        try send()
        try readPendingHello()
        var input = transport.input
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        var refusal: TunnelError?
        do throws(WireError) {
            let id = try input.readPacketID()
            switch id {
            case .downloadResult:
                refusal = try receiveContent(from: &input, of: path, into: chunk, consume)
            default:
                refusal = try Self.refusal(id, from: &input)
                if case .unexpectedAnswer = refusal { broken = refusal }
            }
        } catch {
            let failure = explain(error)
            broken = failure
            throw failure
        }
        answered = true
        if let refusal { throw refusal }
    }

    /// A DownloadResult's content, after its id, piece by piece into `consume`; when that
    /// returns false, the connection is abandoned (the rest cannot be skipped cheaply) and
    /// the error to report is returned.
    func receiveContent(from input: inout FDReader, of path: String, into chunk: UnsafeMutableRawBufferPointer,
                        _ consume: (UnsafeRawBufferPointer) -> Bool) throws(WireError) -> TunnelError? {
        var remaining = try input.readU64()
        while remaining > 0 {
            let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<Int(min(remaining, UInt64(chunk.count)))])
            try input.read(into: piece)
            remaining -= UInt64(piece.count)
            if !consume(UnsafeRawBufferPointer(piece)) {
                closed = true
                // The agent is still sending: ended first, it cannot report its own broken
                // pipe on the stderr it shares with us (a local agent's, ssh's) once we close.
                transport.terminate()
                _ = transport.finish(flushing: false)
                return .transport("the download of \(path) was abandoned: the local write failed")
            }
        }
        return nil
    }

    /// The canonical name of a user given by name or uid; nil asks for the agent's own.
    public func resolveUser(_ user: String?) throws(TunnelError) -> String {
        try request(ResolveUser(user: user), expecting: ResolveResult.self).value
    }

    /// The canonical name of a group given by name or gid; nil asks for the agent's own.
    public func resolveGroup(_ group: String?) throws(TunnelError) -> String {
        try request(ResolveGroup(group: group), expecting: ResolveResult.self).value
    }

    /// A user's passwd entry and groups; with `passwordHash`, the shadow hash (root only).
    public func queryUser(_ user: String, passwordHash: Bool = false) throws(TunnelError) -> UserEntry {
        try request(QueryUser(user: user, queryPasswordHash: passwordHash), expecting: UserEntry.self)
    }

    /// A group's entry and members.
    public func queryGroup(_ group: String) throws(TunnelError) -> GroupEntry {
        try request(QueryGroup(group: group), expecting: GroupEntry.self)
    }

    /// The agent's environment variable, nil when unset.
    public func getenv(_ key: String) throws(TunnelError) -> String? {
        try request(Getenv(key: key), expecting: EnvironVar.self).value
    }

    // MARK: The exchange

    func request<Request: Packet, Answer: DecodablePacket>(
        _ packet: Request, expecting: Answer.Type
    ) throws(TunnelError) -> Answer {
        try checkUsable()
        var output = transport.output
        packet.encode(to: &output)
        return try answer(expecting: Answer.self)
    }

    func checkUsable() throws(TunnelError) {
        guard !closed else { throw .transport("the connection is closed") }
        if let broken { throw broken }
    }

    /// Sends the buffered request. A failed write usually means the transport has ended:
    /// it is explained as a failed read would be.
    func send() throws(TunnelError) {
        try finishStart()
        transport.output.flush()
        if let failure = transport.output.failure {
            let explained = explain(.io(failure))
            broken = explained
            throw explained
        }
    }

    func answer<Answer: DecodablePacket>(expecting: Answer.Type) throws(TunnelError) -> Answer {
        try send()
        try readPendingHello()
        return try received(Answer.self)
    }

    /// The answers to the CheckAlive and Hello the first request was sent with, when they
    /// are still unread (see `init`). Call after that request has been sent.
    func readPendingHello() throws(TunnelError) {
        guard helloPending else { return }
        helloPending = false
        _ = try received(Ack.self)
        hello = try received(HelloResult.self)
    }

    /// The next answer, read from the stream (the request has been sent).
    private func received<Answer: DecodablePacket>(_: Answer.Type) throws(TunnelError) -> Answer {
        var input = transport.input
        let decoded: Result<Answer, TunnelError>
        do throws(WireError) {
            decoded = try Self.decodeAnswer(from: &input, expecting: Answer.self)
        } catch {
            let failure = explain(error)
            broken = failure
            throw failure
        }
        answered = true
        if case .failure(.unexpectedAnswer(let id)) = decoded { broken = .unexpectedAnswer(id) }
        // The packet was read whole, so the stream is still in step; its text was not.
        if let invalid = input.takeInvalidField() {
            throw .invalidAnswer(field: invalid.field, reason: invalid.reason)
        }
        return try decoded.get()
    }

    /// What a broken stream means for the user: the transport's own end (ssh's status; its
    /// message has already reached our stderr, which the transport shares), or a remote shell
    /// that printed text where the agent's first answer should be.
    func explain(_ error: WireError) -> TunnelError {
        switch error {
        case .endOfStream, .truncated, .io:
            closed = true
            let status = transport.finish(flushing: false)
            let how = status == 0 ? "" : status < 0 ? " (killed by signal \(-status))" : " with status \(status)"
            return .transport("'\(transport.command[0])' ended\(how) before the agent answered")
        case .invalidPacketID where !answered:
            return .transport("the remote shell printed text before the agent started: the first bytes were not "
                              + "an answer (do the account's shell startup files print to stdout?)")
        default:
            return .protocolError(error)
        }
    }

    /// The expected answer, or the error packet the agent sent instead.
    static func decodeAnswer<Answer: DecodablePacket>(
        from input: inout FDReader, expecting: Answer.Type
    ) throws(WireError) -> Result<Answer, TunnelError> {
        let id = try input.readPacketID()
        guard id == Answer.id else { return .failure(try refusal(id, from: &input)) }
        return .success(try Answer.decodeFields(from: &input))
    }

    /// What a packet other than the expected answer means: the agent's refusal (read whole,
    /// so the stream stays in step), or an answer to something else.
    static func refusal(_ id: PacketID, from input: inout FDReader) throws(WireError) -> TunnelError {
        // Under the client's usual caps, whatever a listing's pages are read under
        // (ListingLimits): a refusal names a path, which may be longer than any name.
        let caps = input.limits
        input.limits = .client
        defer { input.limits = caps }
        switch id {
        case .osError: return .remoteOSError(try TunnelWire.OSError.decodeFields(from: &input))
        case .invalidField: return .invalidField(try InvalidField.decodeFields(from: &input))
        case .processError: return .processError(try ProcessError.decodeFields(from: &input).message)
        case .failure: return TunnelError(try Failure.decodeFields(from: &input))
        default: return .unexpectedAnswer(id)
        }
    }
}

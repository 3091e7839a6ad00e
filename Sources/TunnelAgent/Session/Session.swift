import CPosix
import TunnelHash
import TunnelWire

/// One dispatcher session on a pair of fds: read a request, answer it, repeat until `Exit`.
/// The routing table below names each request's handler (Handlers/, one file per family);
/// this file keeps the stream in order and is the only place that sends answers.
public final class Session {
    var input: InputStream
    let output: OutputStream
    let context: SessionContext
    /// The context's, kept at hand: asked before every request.
    private let pendingUploads: PendingUploads
    let debug: Bool

    public init(inputFD: Int32 = 0, outputFD: Int32 = 1, debug: Bool = false, durable: Bool = false) {
        input = InputStream(fd: inputFD)
        output = OutputStream(fd: outputFD)
        context = SessionContext(durability: durable ? .synced : .renamed)
        pendingUploads = context.pendingUploads
        self.debug = debug
        let output = self.output
        let pendingUploads = context.pendingUploads
        input.beforeBlocking = {
            pendingUploads.complete()
            Session.send(pendingUploads.takeAnswers(), to: output)
            output.flush()
        }
    }

    /// Serves requests until `Exit` (status 0), the client going away between packets
    /// (status 0, quietly: a deliberate deviation, see docs/protocol.md), or a protocol
    /// error or a broken output (message on stderr, status 3). Answers are flushed whenever
    /// the agent is about to wait for input, and at the end.
    public func run() -> Int32 {
        // The one line the reference does not print: which SHA-512 code this CPU gets.
        log("tunnel-dispatcher \(Agent.version), SHA-512: \(SHA512Kernel.best.name)")
        while true {
            log("waiting for packet")
            do throws(WireError) {
                let id = try input.nextPacketID()
                guard id.isRequest else { throw WireError.wrongDirection(id) }
                log("got packet header for: \(id.name)")
                if id == .exit {
                    log("received packet \(id.name)")
                    return finish()
                }
                try route(id)
            } catch .endOfStream {
                return finish()
            } catch {
                return finish(abortingWith: error)
            }
        }
    }

    private func route(_ id: PacketID) throws(WireError) {
        // Whatever follows a group of durable uploads sees them in place.
        if id != .upload && id != .uploadBeneath { completeUploads() }
        // --read-only, --allow, --deny, --root (Restrictions/): a refused request was read to its end.
        if let refusal = try Restrictions.active?.screen(id, from: input) {
            return try conclude(id, .refused(refusal))
        }
        switch id {
        case .checkAlive: try serve(CheckAliveHandler.self, id)
        case .processRun: try serve(ProcessRunHandler.self, id)
        case .stat: try serve(StatHandler.self, id)
        case .upload: try serve(UploadHandler.self, id)
        case .download: try serve(DownloadHandler.self, id)
        case .resolveUser: try serve(ResolveUserHandler.self, id)
        case .resolveGroup: try serve(ResolveGroupHandler.self, id)
        case .queryUser: try serve(QueryUserHandler.self, id)
        case .queryGroup: try serve(QueryGroupHandler.self, id)
        case .getenv: try serve(GetenvHandler.self, id)
        case .hello: try serve(HelloHandler.self, id)
        case .runEx: try serve(RunExHandler.self, id)
        case .runTerminal: try serve(RunTerminalHandler.self, id)
        case .listDir: try serve(ListDirHandler.self, id)
        case .makeDir: try serve(MakeDirHandler.self, id)
        case .remove: try serve(RemoveHandler.self, id)
        case .rename: try serve(RenameHandler.self, id)
        case .setMetadata: try serve(SetMetadataHandler.self, id)
        case .symlink: try serve(SymlinkHandler.self, id)
        case .readLink: try serve(ReadLinkHandler.self, id)
        case .statPath: try serve(StatPathHandler.self, id)
        case .uploadBeneath: try serve(UploadBeneathHandler.self, id)
        case .readBeneath: try serve(ReadBeneathHandler.self, id)
        case .createBeneath: try serve(CreateBeneathHandler.self, id)
        case .setMetadataBeneath: try serve(SetMetadataBeneathHandler.self, id)
        case .removeBeneath: try serve(RemoveBeneathHandler.self, id)
        case .statNumbers: try serve(StatNumbersHandler.self, id)
        // A streamed run's controls that arrive after it ended: read, and not answered.
        case .input: _ = try Input.decodeFields(from: &input)
        case .closeInput: break
        case .signal: _ = try Signal.decodeFields(from: &input)
        case .windowSize: _ = try WindowSize.decodeFields(from: &input)
        default:
            // `run` handles Exit and responses; nothing else reaches here.
            throw .wrongDirection(id)
        }
    }

    /// Reads one request, gets its answer (an invalid field read is the answer), sends it.
    /// Generic only in what must be (reading the request, asking its handler): the rest is
    /// shared in `conclude`, since every handler's copy of this function lands in the binary.
    private func serve<Handler: RequestHandler>(_: Handler.Type, _ id: PacketID) throws(WireError) {
        let request = try Handler.read(from: &input, in: context)
        log("received packet \(id.name)")
        let answer: Answer
        if input.hasInvalidField {
            answer = invalidFieldAnswer()
        } else {
            do throws(Refusal) {
                answer = try Handler.answer(request, in: context)
            } catch {
                answer = .refused(error)
            }
        }
        try conclude(id, answer)
    }

    /// The InvalidField answer to a request whose field was invalid. Out of line (and
    /// asked only after the inline `hasInvalidField`): each handler's `serve` stays small.
    private func invalidFieldAnswer() -> Answer {
        // Never nil here; a wrong answer is still better than a trap if that ever changed.
        guard let invalid = input.takeInvalidField() else { return .refused(.processError("")) }
        return .refused(.invalidField(invalid.field, invalid.errorMessage))
    }

    /// Sends the answer to request `id`, then drops the owner-name cache when the request
    /// may have changed the accounts (an upload or a rename of /etc/passwd, a command).
    /// Which requests may is `RequestPolicy.changesHost`'s exhaustive list, the one that
    /// --read-only refuses: a request that only reads (Stat, ListDir, ReadBeneath, Hello)
    /// keeps the names, so a tree's listings read /etc/passwd once, not once per folder.
    private func conclude(_ id: PacketID, _ answer: Answer) throws(WireError) {
        // --log: a run is logged by `supervise` once its ending is known.
        if !answer.isRun { Restrictions.active?.answered(id, with: answer, input: input) }
        defer { if RequestPolicy.changesHost(id) { context.accountNames.forget() } }
        try send(answer, to: id)
        if let failure = output.failure { throw failure }
    }

    /// Sends `answer`, or the sequence it describes; answers keep their order, so pending
    /// uploads are answered first.
    private func send(_ answer: Answer, to id: PacketID) throws(WireError) {
        switch answer {
        case .uploadPending:
            if pendingUploads.isFull { pendingUploads.complete() }
            Session.send(pendingUploads.takeAnswers(), to: output)
        case .run(let plan):
            completeUploads()
            try supervise(plan, for: id)
        case .directoryListing(let listing):
            completeUploads()
            var writer = output
            while let page = listing.nextPage() { page.encode(to: &writer) }
        default:
            completeUploads()
            Session.encode(answer, to: output, extensionRequest: id.isExtension)
        }
    }

    /// Completes durable mode's group of uploads, and sends their answers. Asked before
    /// every request and answer: the usual "nothing pending" costs a load and a branch.
    @inline(__always)
    private func completeUploads() {
        if !pendingUploads.isIdle { completeUploadsNow() }
    }

    private func completeUploadsNow() {
        pendingUploads.complete()
        Session.send(pendingUploads.takeAnswers(), to: output)
    }

    /// Runs a command (ProcessRun, RunEx) to its end and sends its answer: the one place
    /// where a run's ending becomes packets.
    private func supervise(_ plan: RunPlan, for id: PacketID) throws(WireError) {
        // Earlier answers leave before a command that may take long.
        output.flush()
        let output = self.output
        let outlet = RunOutlet(fd: output.fd,
                               emit: { name, bytes in
                                   var writer = output
                                   Output(stream: name, data: RawBytes(bytes)).encode(to: &writer)
                               },
                               pendingByteCount: { output.pendingByteCount },
                               writeWhatFits: { output.writeWhatFits() },
                               hasFailed: { output.failure != nil })
        let supervisor: RunSupervisor
        switch RunSupervisor.start(plan, input: input, outlet: outlet) {
        case .failure(let failure):
            return finish(id, plan, .refused(.startFailure(failure, of: plan.process,
                                                           withErrno: plan.answer != .processCompleted)))
        case .success(let started):
            supervisor = started
        }
        let returncode: Int32
        let timedOut: Bool
        // --log: a run that ends without an answer.
        func abandoned() { Restrictions.active?.answered(id, with: .run(plan), input: self.input) }
        switch supervisor.run() {
        case .exited(let status): (returncode, timedOut) = (status, false)
        case .timedOut(let status): (returncode, timedOut) = (status, true)
        case .storeFailed(let error):
            return finish(id, plan, .refused(.osError(error, path: nil)))
        case .clientGone:
            abandoned()
            throw .abandoned("Cannot write to the data stream: " + Errno.brokenPipe.strerror)
        case .exitRequested:
            // Exit during the run ends the session as an Exit between requests does.
            abandoned()
            throw .endOfStream
        case .brokenInput(let error):
            abandoned()
            throw error
        }
        // The run ended within an Input packet: the rest of its payload is not for anyone.
        try input.skip(supervisor.unreadInputPayload)
        let captured = plan.process.captureOutput
        switch plan.answer {
        case .processCompleted:
            finish(id, plan, .processCompleted(ProcessCompleted(stdout: captured ? supervisor.stdout : nil,
                                                                stderr: captured ? supervisor.stderr : nil,
                                                                returncode: returncode)))
        case .runFinishedCaptured:
            finish(id, plan, .runFinished(RunFinished(returncode: returncode, timedOut: timedOut,
                                                      stdout: supervisor.stdout, stderr: supervisor.stderr)))
        case .runFinishedStreamed:
            finish(id, plan, .runFinished(RunFinished<Spool>(returncode: returncode, timedOut: timedOut)))
        }
    }

    /// A run's last answer: its ending, or the refusal it became (an extension's is a
    /// Failure when the client asked for those), logged by --log with the whole run's bytes.
    private func finish(_ id: PacketID, _ plan: RunPlan, _ ending: Answer) {
        Restrictions.active?.answered(id, with: ending, input: input)
        Session.encode(ending, to: output, extensionRequest: plan.answer != .processCompleted)
    }

    private static func send(_ answers: [Answer], to stream: OutputStream) {
        for answer in answers { encode(answer, to: stream) }
    }

    /// Encodes one answer packet into the output buffer: the session's single reply point.
    /// An extension request's refusal is a Failure once the client's Hello asked for it;
    /// the originals' never are.
    private static func encode(_ answer: Answer, to stream: OutputStream, extensionRequest: Bool = false) {
        var output = stream
        switch answer {
        case .refused(let refusal) where extensionRequest && stream.structuredFailures:
            refusal.failure.encode(to: &output)
        case .ok: Ok().encode(to: &output)
        case .ack: Ack().encode(to: &output)
        case .processCompleted(let completed): completed.encode(to: &output)
        case .statResult(let result): result.encode(to: &output)
        case .resolveResult(let result): result.encode(to: &output)
        case .downloadedContent(let spool): DownloadResult(content: spool).encode(to: &output)
        case .downloadedFile(let file): DownloadResult(content: file).encode(to: &output)
        case .userEntry(let entry): entry.encode(to: &output)
        case .groupEntry(let entry): entry.encode(to: &output)
        case .environVar(let variable): variable.encode(to: &output)
        case .refused(.invalidField(let field, let message)):
            InvalidField(field: field, errorMessage: message).encode(to: &output)
        case .refused(.osError(let error, let path)), .refused(.childNotStarted(_, let error, let path)):
            TunnelWire.OSError(errno: Int64(error.code), strerror: error.strerror,
                               msg: error.pythonMessage(path: path)).encode(to: &output)
        case .refused(.refusedByPolicy(let reason)):
            let denied = Errno(EACCES)
            TunnelWire.OSError(errno: Int64(denied.code), strerror: denied.strerror,
                               msg: denied.pythonMessage(path: reason)).encode(to: &output)
        case .refused(.processError(let message)):
            ProcessError(message: message).encode(to: &output)
        case .helloResult(let result):
            // The answer that announces the session's refusals switches them.
            stream.structuredFailures = result.structuredFailures
            result.encode(to: &output)
        case .runFinished(let finished): finished.encode(to: &output)
        case .linkTarget(let target): target.encode(to: &output)
        case .statNumbers(let numbers): numbers.encode(to: &output)
        case .uploadPending, .run, .directoryListing:
            break   // sequences: `send` sends them
        }
    }

    /// Flushes what is pending and gives the exit status: 0, or 3 with the reference's
    /// `<message>. Aborting.` when the session ends on an error or could not deliver.
    private func finish(abortingWith error: WireError? = nil) -> Int32 {
        completeUploads()
        output.flush()
        guard let failure = error ?? output.failure else { return 0 }
        writeToStderr(failure.message + ". Aborting.\n")
        return 3
    }

    /// The debug line format of the reference (stderr, yellow "REMOTE" prefix).
    /// Never given file contents, stdin data or password hashes.
    func log(_ message: @autoclosure () -> String) {
        guard debug else { return }
        writeToStderr("  \u{1b}[1;33mREMOTE\u{1b}[m: " + message() + "\n")
    }
}

/// Bytes borrowed for one write (an `Output` packet's data, straight from the read buffer).
private struct RawBytes: WirePayload {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var byteCount: UInt64 { UInt64(bytes.count) }
    func writeContent<W: WireWriter>(to writer: inout W) { writer.write(bytes) }
}

func writeToStderr(_ text: String) {
    var copy = text
    copy.withUTF8 { try? writeFully(fd: 2, UnsafeRawBufferPointer($0)) }
}

import TunnelHash
import TunnelWire

/// One dispatcher session on a pair of fds: read a request, answer it, repeat until `Exit`.
/// The routing table below names each request's handler (Handlers/, one file per family);
/// this file keeps the stream in order and is the only place that sends answers.
public final class Session {
    var input: InputStream
    var output: OutputStream
    let context: SessionContext
    let debug: Bool

    public init(inputFD: Int32 = 0, outputFD: Int32 = 1, debug: Bool = false, durable: Bool = false) {
        input = InputStream(fd: inputFD)
        output = OutputStream(fd: outputFD)
        context = SessionContext(durability: durable ? .synced : .renamed, answerChannel: outputFD)
        self.debug = debug
        let output = self.output
        let pendingUploads = context.pendingUploads
        input.beforeBlocking = {
            pendingUploads.complete()
            output.flush()
        }
        pendingUploads.reply = { answer in Session.encode(answer, to: output) }
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
                let id = try input.readPacketID()
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
        if id != .upload && id != .uploadBeneath { context.pendingUploads.complete() }
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
        // A streamed run's controls that arrive after it ended: read, and not answered.
        case .input: _ = try Input.decodeFields(from: &input)
        case .closeInput: break
        case .signal: _ = try Signal.decodeFields(from: &input)
        default:
            // `run` handles Exit and responses; nothing else reaches here.
            throw .wrongDirection(id)
        }
    }

    /// Reads one request, gets its answer (an invalid field read is the answer), sends it.
    /// Generic only in what must be: the rest is shared, since every handler's copy of
    /// this function lands in the static binary.
    private func serve<Handler: RequestHandler>(_: Handler.Type, _ id: PacketID) throws(WireError) {
        let request = try Handler.read(from: &input, in: context)
        let context = self.context
        try deliver(id) { () throws(Refusal) in try Handler.answer(request, in: context) }
    }

    private func deliver(_ id: PacketID, _ answering: () throws(Refusal) -> Answer) throws(WireError) {
        log("received packet \(id.name)")
        let answer: Answer
        if let invalid = input.takeInvalidField() {
            answer = .refused(.invalidField(invalid.field, invalid.errorMessage))
        } else {
            do throws(Refusal) {
                answer = try answering()
            } catch {
                answer = .refused(error)
            }
        }
        switch answer {
        case .uploadPending:
            break
        case .runEx(let plan):
            context.pendingUploads.complete()
            // Exit during the run ends the session as an Exit between requests does.
            if try RunSupervisor(plan, input: input, output: output).run() == .exitRequested { throw .endOfStream }
        default:
            // Answers keep their order: pending uploads are answered first.
            context.pendingUploads.complete()
            reply(answer)
        }
        if let failure = output.failure { throw failure }
    }

    private func reply(_ answer: Answer) {
        Session.encode(answer, to: output)
    }

    /// Encodes the answer into the output buffer: the session's single reply point (the
    /// pending uploads of durable mode answer through it too).
    static func encode(_ answer: Answer, to stream: OutputStream) {
        var output = stream
        switch answer {
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
        case .refused(.osError(let error, let path)):
            TunnelWire.OSError(errno: Int64(error.code), strerror: error.strerror,
                               msg: error.pythonMessage(path: path)).encode(to: &output)
        case .refused(.processError(let message)):
            ProcessError(message: message).encode(to: &output)
        case .helloResult(let result): result.encode(to: &output)
        case .directoryListing(let listing): listing.encode(to: &output)
        case .linkTarget(let target): target.encode(to: &output)
        case .uploadPending, .runEx:
            break   // answered elsewhere: PendingUploads, RunSupervisor
        }
    }

    /// Flushes what is pending and gives the exit status: 0, or 3 with the reference's
    /// `<message>. Aborting.` when the session ends on an error or could not deliver.
    private func finish(abortingWith error: WireError? = nil) -> Int32 {
        context.pendingUploads.complete()
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

func writeToStderr(_ text: String) {
    var copy = text
    copy.withUTF8 { try? writeFully(fd: 2, UnsafeRawBufferPointer($0)) }
}

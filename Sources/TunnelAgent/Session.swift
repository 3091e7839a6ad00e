import CPosix
import TunnelWire

/// The InvalidField reason for a path or name holding a NUL byte (which no C call takes).
let nulByteMessage = "The value contains a NUL byte."

/// One dispatcher session on a pair of fds: read a request, answer it, flush, repeat until
/// `Exit`. Each request's handler lives in the file of its family (Process, Files,
/// Identity, Environment); this file only routes and keeps the stream in order.
public final class Session {
    var input: InputStream
    var output: OutputStream
    let debug: Bool

    public init(inputFD: Int32 = 0, outputFD: Int32 = 1, debug: Bool = false) {
        input = InputStream(fd: inputFD)
        output = OutputStream(fd: outputFD)
        self.debug = debug
        let output = self.output
        input.beforeBlocking = { output.flush() }
        outputFlushedOnAbort = output
    }

    /// Answers are flushed whenever the agent is about to wait for input (and at the end).
    /// Serves requests until `Exit` (status 0), the client going away between packets
    /// (status 0, quietly: a deliberate deviation, see docs/protocol.md), or a protocol
    /// error (message on stderr, status 3).
    public func run() -> Int32 {
        while true {
            log("waiting for packet")
            do throws(WireError) {
                let id = try input.readPacketID()
                guard id.isRequest else { throw WireError.wrongDirection(id) }
                log("got packet header for: \(id.name)")
                if id == .exit {
                    log("received packet \(id.name)")
                    output.flush()
                    return 0
                }
                try handle(id)
            } catch .endOfStream {
                output.flush()
                return 0
            } catch {
                output.flush()
                writeToStderr(error.message + ". Aborting.\n")
                return 3
            }
        }
    }

    private func handle(_ id: PacketID) throws(WireError) {
        switch id {
        case .checkAlive:
            if try decode(CheckAlive.self) != nil { send(Ack()) }
        case .processRun: try handleProcessRun()
        case .stat: try handleStat()
        case .upload: try handleUpload()
        case .download: try handleDownload()
        case .resolveUser: try handleResolveUser()
        case .resolveGroup: try handleResolveGroup()
        case .queryUser: try handleQueryUser()
        case .queryGroup: try handleQueryGroup()
        case .getenv: try handleGetenv()
        default:
            // `run` only routes requests here; responses and Exit are handled there.
            throw .wrongDirection(id)
        }
    }

    // MARK: Helpers shared by the handlers

    /// Reads a whole request. When a field held an invalid value, answers `InvalidField`
    /// and returns nil: the packet was consumed completely, so the session goes on.
    func decode<P: DecodablePacket>(_: P.Type) throws(WireError) -> P? {
        let packet = try P.decodeFields(from: &input)
        return finishDecoding(packet, P.id)
    }

    /// The end of every decode, also for the streamed requests: log, then answer the first
    /// invalid field if there was one.
    func finishDecoding<P>(_ packet: P, _ id: PacketID) -> P? {
        log("received packet \(id.name)")
        if let invalid = input.invalidField {
            input.invalidField = nil
            send(invalid)
            return nil
        }
        return packet
    }

    func send<P: Packet>(_ packet: P) {
        packet.encode(to: &output)
    }

    func sendInvalid(_ field: String, _ message: String) {
        send(InvalidField(field: field, errorMessage: message))
    }

    /// A `user`/`owner` field of ProcessRun or Upload, resolved as the reference's
    /// `_resolve_user` does (with its messages); nil when an InvalidField was sent.
    func resolveUserField(_ text: String, field: String) -> UserRecord? {
        // Python's getpwnam raises ValueError("embedded null byte"), which the reference
        // passes on as the message.
        if text.utf8.contains(0) { sendInvalid(field, "embedded null byte"); return nil }
        guard let record = Accounts.resolveUser(text) else {
            sendInvalid(field, "The user with the name '\(text)' does not exist.")
            return nil
        }
        return record
    }

    /// A `group` field of ProcessRun or Upload (the reference's `_resolve_group`).
    func resolveGroupField(_ text: String) -> GroupRecord? {
        if text.utf8.contains(0) { sendInvalid("group", "embedded null byte"); return nil }
        guard let record = Accounts.resolveGroup(text) else {
            sendInvalid("group", "The group with the name '\(text)' does not exist.")
            return nil
        }
        return record
    }

    func sendOSError(_ error: Errno, path: String? = nil) {
        send(TunnelWire.OSError(errno: Int64(error.code), strerror: error.strerror,
                                msg: error.pythonMessage(path: path)))
    }

    /// The debug line format of the reference (stderr, yellow "REMOTE" prefix).
    /// Never given file contents, stdin data or password hashes.
    func log(_ message: @autoclosure () -> String) {
        guard debug else { return }
        writeToStderr("  \u{1b}[1;33mREMOTE\u{1b}[m: " + message() + "\n")
    }
}

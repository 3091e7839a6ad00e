import TunnelWire

/// Why a request did not give the answer asked for.
public enum TunnelError: Error, Equatable, CustomStringConvertible {
    /// The agent hit an operating-system error (`errno`, glibc's wording, Python's message).
    case remoteOSError(TunnelWire.OSError)
    /// A request field held a value the agent rejected.
    case invalidField(InvalidField)
    /// The child process could not be set up after the fork (its identity or umask).
    case processError(String)
    /// A run's command could not start: its working folder could not be entered
    /// (`.changeDirectory`) or its program not executed (`.execute`), as `error` says.
    case commandNotStarted(FailureStep, TunnelWire.OSError)
    /// An extension refusal of a kind this client does not know more about (a policy, or a
    /// step named by a newer agent).
    case refused(Failure)
    /// The stream broke or held something undecodable; the connection is unusable.
    case protocolError(WireError)
    /// A valid packet, but not an answer to what was asked.
    case unexpectedAnswer(PacketID)
    /// An answer held a text field that is not valid UTF-8 (it would have read as "").
    case invalidAnswer(field: String, reason: String)
    /// Starting or talking to the transport command failed.
    case transport(String)
    /// The agent ended the session on `Hello`: it is fora's Python dispatcher (or an agent
    /// before the extensions). Requests of the original 23 packets work without `Hello`.
    case extensionsUnsupported
    /// The request needs an extension this agent does not serve.
    case extensionMissing(PacketID)

    /// The message tunnel prints after `tunnel: `.
    public var description: String {
        switch self {
        case .remoteOSError(let error): return "remote: \(error.plainText)"
        case .invalidField(let field): return "invalid value for field '\(field.field)': \(field.errorMessage)"
        case .processError(let message): return "remote process error: \(message)"
        case .commandNotStarted(_, let error): return "remote: \(error.plainText)"
        case .refused(let failure): return "remote: \(failure.message)"
        case .protocolError(let error): return "protocol error: \(error.message)"
        case .unexpectedAnswer(let id): return "unexpected answer \(id.name) from the agent"
        case .invalidAnswer(let field, let reason): return "invalid text in the answer's field '\(field)': \(reason)"
        case .transport(let message): return "transport: \(message)"
        case .extensionsUnsupported:
            return "the agent does not know the protocol extensions (it is fora's Python dispatcher, or an older "
                + "tunnel-dispatcher)"
        case .extensionMissing(let id):
            return "the agent does not serve \(id.name), which this needs (an older tunnel-dispatcher?)"
        }
    }
}

extension TunnelError {
    /// An extension's `Failure`, classified here once, from its step and errno; its message
    /// is kept for people and never read. Refusals that the originals' packets can say are
    /// said with them, so a caller matches `.remoteOSError` by errno whichever packet came.
    public init(_ failure: Failure) {
        let osError = TunnelWire.OSError(errno: failure.errno, strerror: systemErrorText(failure.errno), msg: failure.message)
        switch failure.step {
        case .field:
            self = .invalidField(InvalidField(field: String(decoding: failure.subject, as: UTF8.self),
                                              errorMessage: failure.message))
        case .changeDirectory, .execute:
            self = .commandNotStarted(failure.step, osError)
        case .prepareChild where failure.errno == 0:
            self = .processError(failure.message)
        case .prepareChild:   // the switch of identity (or the folder, entered after it), with its errno
            self = .commandNotStarted(failure.step, osError)
        case .system, .file:
            self = .remoteOSError(osError)
        default:
            self = .refused(failure)
        }
    }

    /// The exit status a shell would give for a command that could not start: 127 when its
    /// program does not exist, 126 when it cannot be executed; nil for any other error.
    public var commandStartStatus: Int32? {
        guard case .commandNotStarted(.execute, let error) = self else { return nil }
        return error.errno == noSuchFileErrno ? 127 : 126
    }
}

extension TunnelError {
    /// The same error naming `path` when the agent named no file: fora's Upload reports a
    /// failed write (ENOSPC, EDQUOT, EIO) as Python's `write` does, "[Errno 28] No space left
    /// on device", and the agent keeps that byte for byte; a user needs to know which file.
    public func naming(_ path: [UInt8]) -> TunnelError {
        guard case .remoteOSError(let error) = self, error.msg == "[Errno \(error.errno)] \(error.strerror)" else {
            return self
        }
        let name = String(decoding: path, as: UTF8.self)
        // Quoted as Python quotes the file name of the other OSErrors.
        let quoted = name.contains("'") ? "\"\(name)\"" : "'\(name)'"
        return .remoteOSError(TunnelWire.OSError(errno: error.errno, strerror: error.strerror, msg: error.msg + ": " + quoted))
    }
}

extension TunnelWire.OSError {
    /// The message in GNU's wording, for people: "'/x': No such file or directory".
    public var plainText: String { Self.plainText(of: msg) }

    /// fora's OSError text, Python's wording ("[Errno 2] No such file or directory: '/x'", which
    /// the agent keeps byte for byte for the 23 packets), as GNU tools word it: "'/x': No such
    /// file or directory"; with two names, "'a' -> 'b': …"; with none, the reason alone. Any
    /// other text is returned as it is.
    public static func plainText(of message: String) -> String {
        guard message.hasPrefix("[Errno "), let close = message.firstRange(of: "] ") else { return message }
        let rest = message[close.upperBound...]
        // Python's repr() quotes a name with ' (or " when it holds a ').
        guard let separator = rest.firstRange(of: ": '") ?? rest.firstRange(of: ": \"") else { return String(rest) }
        let names = rest[rest.index(after: separator.lowerBound)...].dropFirst()
        let reason = rest[..<separator.lowerBound]
        // A restricted agent's refusal of one of the 23 packets is an OSError whose "file name"
        // is the sentence that says why (Refusal.refusedByPolicy): a sentence, not a path.
        if names.contains(" refused by the agent's ") { return "\(names.dropFirst().dropLast()) (\(reason))" }
        return "\(names): \(reason)"
    }
}

import CPosix
import TunnelWire

/// A request the policy refuses: read to its end as if it were served (so the stream stays
/// in step: an Upload's content, a run's stdin are consumed and dropped, never stored), and
/// answered with the refusal below.
enum RefusedRequest {
    /// Reads the fields of `id`'s request, discarding payloads; each path goes to `log`.
    /// Exhaustive on purpose: a new request does not compile until it says how it is read,
    /// since a refused request whose fields were left unread would put the stream out of step.
    static func discard(_ id: PacketID, from input: InputStream, notingPathsIn log: AuditLog?) throws(WireError) {
        var reader = input
        func note(_ field: String, _ path: [UInt8]) { log?.note(field: field, path: path) }
        // The *Beneath requests name a folder and a path below it.
        func noteBeneath(_ root: [UInt8], _ path: [UInt8]) {
            note("root", root)
            note("path", path)
        }
        switch id {
        case .processRun:
            let request = try ProcessRun<Spool>.decodeFields(from: &reader, stdin: discardedPayload)
            if let cwd = request.cwd { note("cwd", Array(cwd.utf8)) }
        case .runEx:
            let request = try RunEx<Spool>.decodeFields(from: &reader, stdin: discardedPayload)
            if let cwd = request.cwd { note("cwd", cwd) }
        case .runTerminal:
            let request = try RunTerminal<Spool>.decodeFields(from: &reader, stdin: discardedPayload)
            if let cwd = request.run.cwd { note("cwd", cwd) }
        case .upload:
            let request = try Upload<Void>.decodeFields(from: &reader) { (reader, _, length) throws(WireError) in
                try reader.streamPayload(length: length) { _ in }
            }
            note("file", Array(request.file.utf8))
        case .stat: note("path", Array(try Stat.decodeFields(from: &reader).path.utf8))
        case .download: note("file", Array(try Download.decodeFields(from: &reader).file.utf8))
        case .resolveUser: _ = try ResolveUser.decodeFields(from: &reader)
        case .resolveGroup: _ = try ResolveGroup.decodeFields(from: &reader)
        case .queryUser: _ = try QueryUser.decodeFields(from: &reader)
        case .queryGroup: _ = try QueryGroup.decodeFields(from: &reader)
        case .getenv: _ = try Getenv.decodeFields(from: &reader)
        case .listDir: note("path", try ListDir.decodeFields(from: &reader).path)
        case .makeDir: note("path", try MakeDir.decodeFields(from: &reader).path)
        case .remove: note("path", try Remove.decodeFields(from: &reader).path)
        case .rename:
            let request = try Rename.decodeFields(from: &reader)
            note("source", request.source)
            note("target", request.target)
        case .setMetadata: note("path", try SetMetadata.decodeFields(from: &reader).path)
        case .symlink:
            let request = try Symlink.decodeFields(from: &reader)
            note("target", request.target)
            note("path", request.path)
        case .readLink: note("path", try ReadLink.decodeFields(from: &reader).path)
        case .statPath: note("path", try StatPath.decodeFields(from: &reader).path)
        case .statNumbers:
            for path in try StatNumbers.decodeFields(from: &reader).paths { note("paths", path) }
        case .uploadBeneath:
            let request = try UploadBeneath<Void>.decodeFields(from: &reader) { (reader, _, _, length) throws(WireError) in
                try reader.streamPayload(length: length) { _ in }
            }
            noteBeneath(request.root, request.path)
        case .readBeneath:
            let request = try ReadBeneath.decodeFields(from: &reader)
            noteBeneath(request.root, request.path)
        case .createBeneath:
            let request = try CreateBeneath.decodeFields(from: &reader)
            noteBeneath(request.root, request.path)
        case .setMetadataBeneath:
            let request = try SetMetadataBeneath.decodeFields(from: &reader)
            noteBeneath(request.root, request.path)
        case .removeBeneath:
            let request = try RemoveBeneath.decodeFields(from: &reader)
            noteBeneath(request.root, request.path)
        case .checkAlive, .exit, .hello, .input, .closeInput, .signal, .windowSize:
            break   // never refused (RequestPolicy.isAlwaysServed)
        case .ok, .ack, .osError, .invalidField, .processCompleted, .processError, .statResult,
             .resolveResult, .downloadResult, .userEntry, .groupEntry, .environVar, .helloResult,
             .output, .runFinished, .dirEntries, .linkTarget, .failure, .statNumbersResult:
            break   // answers: the session ends before asking
        }
        // A bad field in a refused request changes nothing: the refusal is the answer.
        _ = input.takeInvalidField()
    }

    /// A run's stdin, read and dropped as it arrives: a spool that may hold nothing stores
    /// nothing (no memory, no scratch file). The handlers' own Spool decoding is reused.
    private static func discardedPayload(_ reader: inout InputStream, _ length: UInt64) throws(WireError) -> Spool {
        let nothing = Spool(limit: 0)
        try reader.streamPayload(length: length) { nothing.append($0) }
        return nothing
    }

    /// The answer to `id` refused by `restriction`: Session says it with the reference's
    /// OSError (EACCES) to the 23 original packets, and with a Failure of step `policy` to
    /// extension requests of a client that asked for structured refusals.
    static func answer(to id: PacketID, refusedBy restriction: Restriction) -> Refusal {
        .refusedByPolicy(id.requestName + " refused by the agent's " + restriction.optionName)
    }
}

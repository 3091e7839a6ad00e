import TunnelWire

/// The restricted agent (`--read-only`, `--allow`, `--deny`, `--root`, `--log`): its policy
/// and its audit log, and the session's only ways into them. Absent (nil) unless one of
/// those options was given, so an unrestricted agent runs none of this code.
final class Restrictions {
    /// Set once by Agent.main before the session starts.
    nonisolated(unsafe) static var active: Restrictions?

    let policy: RequestPolicy
    let log: AuditLog?

    init(policy: RequestPolicy, log: AuditLog?) {
        self.policy = policy
        self.log = log
    }

    /// Called by the session with each request's id, before its fields are read. nil: serve
    /// it. Otherwise the request has been read to its end and this is its answer.
    func screen(_ id: PacketID, from input: InputStream) throws(WireError) -> Refusal? {
        log?.begin(payloadBytes: input.payloadBytesRead)
        guard let restriction = policy.refusal(of: id) else { return nil }
        try RefusedRequest.discard(id, from: input, notingPathsIn: log)
        log?.restriction = restriction
        return RefusedRequest.answer(to: id, refusedBy: restriction)
    }

    /// Called by the session with each request's answer, before it is sent.
    func answered(_ id: PacketID, with answer: Answer, input: InputStream) {
        log?.record(id, answer: answer, payloadBytes: input.payloadBytesRead)
    }

    /// Called where a request's path field becomes a SystemPath (handlers' `systemPath`).
    func notePath(_ bytes: [UInt8], field: String) {
        log?.note(field: field, path: bytes)
    }
}

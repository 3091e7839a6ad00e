import TunnelWire

/// Hello → HelloResult: the agent's version and the extension requests it serves. A client
/// that asks for durable uploads gets them for the rest of the session (the agent's own
/// `--durable` stays on either way). Earlier uploads were completed before this request.
/// Structured failures are what the latest Hello asked (Session switches as it answers).
enum HelloHandler: RequestHandler {
    static func answer(_ request: Hello, in context: SessionContext) throws(Refusal) -> Answer {
        if request.durableUploads { context.durability = .synced }
        return .helloResult(HelloResult(version: Agent.version, extensions: PacketID.extensionRequests.map { $0.rawValue },
                                        durableUploads: context.durability == .synced,
                                        structuredFailures: request.structuredFailures))
    }
}

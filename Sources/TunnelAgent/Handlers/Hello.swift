import TunnelWire

/// Hello → HelloResult: the agent's version and the extension requests it serves.
enum HelloHandler: RequestHandler {
    static func answer(_ request: Hello, in context: SessionContext) throws(Refusal) -> Answer {
        .helloResult(HelloResult(version: Agent.version, extensions: PacketID.extensionRequests.map { $0.rawValue }))
    }
}

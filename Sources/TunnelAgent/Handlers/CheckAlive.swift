import TunnelWire

/// CheckAlive → Ack.
enum CheckAliveHandler: RequestHandler {
    static func answer(_ request: CheckAlive, in context: SessionContext) throws(Refusal) -> Answer {
        .ack
    }
}

import TunnelWire

/// Getenv → EnvironVar: the agent's own environment, as Python's `os.getenv` sees it.
enum GetenvHandler: RequestHandler {
    static func answer(_ request: Getenv, in context: SessionContext) throws(Refusal) -> Answer {
        .environVar(EnvironVar(value: Environment.value(of: request.key)))
    }
}

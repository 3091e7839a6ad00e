import TunnelWire

/// RunTerminal → Output… RunFinished: a RunEx on a new pseudo-terminal (docs/protocol.md).
/// The run is validated exactly as RunEx's; the pty itself is opened when the child starts
/// (System/Terminal.swift), and a missing /dev/ptmx or /dev/pts is refused there.
enum RunTerminalHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> RunTerminal<Spool> {
        try RunTerminal<Spool>.decodeFields(from: &input) { (input, length) throws(WireError) in
            try input.spool(length: length)
        }
    }

    static func answer(_ request: RunTerminal<Spool>, in context: SessionContext) throws(Refusal) -> Answer {
        // A terminal is interactive: there is nothing to capture separately, one stream only.
        guard request.run.stream else { throw .invalidField("stream", "A terminal run is always streamed.") }
        guard case .run(var plan) = try RunExHandler.answer(request.run, in: context) else {
            throw .invalidField("stream", "A terminal run is always streamed.")
        }
        plan.process.terminal = request.size
        return .run(plan)
    }
}

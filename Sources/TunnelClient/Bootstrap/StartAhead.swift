/// The first packets sent ahead of the bootstrap's `start` line (issue 20, start latency):
/// CheckAlive, Hello and the first request leave right behind the snippet's command, and the
/// snippet's lines are read before their answers. Through ssh that is one round trip less
/// per start; see bootstrap.sh (`ahead`) for the snippet's side.

/// What reading the bootstrap needs, kept from `TunnelConnection.init` to the first request.
struct PendingStart {
    let agents: AgentBinaries
    let route: Route
    let log: (String) -> Void
}

extension TunnelConnection {
    /// Returns once the agent has answered the packets a connection opens with (CheckAlive,
    /// and Hello when negotiating): `init` waits for them, except when they wait for the
    /// first request. For a caller that asks nothing more (`tunnel ping`).
    public func waitForAgent() throws(TunnelError) {
        try checkUsable()
        try send()
        try readPendingHello()
    }

    /// Most bytes sent ahead: more (a large upload held in memory) waits for `start`, as
    /// without `ahead`, rather than be kept twice, for the snippet may drop them.
    static let mostSentAhead = 64 * 1024

    /// Sends the held packets ahead and reads the bootstrap, once, before anything else is
    /// written: from `send`, and before a request whose content streams from a file (it
    /// must not be held in memory). A failure leaves the connection broken.
    func finishStart() throws(TunnelError) {
        guard let start = pendingStart else { return }
        pendingStart = nil
        let held = transport.output.releaseHeld()
        let ahead = held.count <= Self.mostSentAhead ? held : []
        Bootstrap.sendAhead(ahead, over: transport)
        do throws(TunnelError) {
            bootstrap = try Bootstrap.perform(over: transport, agents: start.agents, route: start.route, log: start.log)
        } catch {
            broken = error
            closed = true   // Bootstrap.perform ended the transport
            throw error
        }
        // The `start` line says ssh is through (no host-key question left): the terminal is
        // this program's again.
        transport.terminalLoan?.end()
        // Dropped by a snippet that received the agent first or ran under csh, or too large
        // to go ahead.
        if bootstrap!.droppedAhead || ahead.isEmpty {
            held.withUnsafeBytes { transport.output.write($0) }
        }
    }
}

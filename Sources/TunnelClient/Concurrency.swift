/// Async/await over a connection. A `TunnelConnection` serves one request at a time and is
/// not `Sendable`: use it from one task at a time (an actor of your own, or these wrappers,
/// which run the blocking exchange off the caller's task).
extension TunnelConnection {
    /// Runs `body` with this connection on a task of its own. When the calling task is
    /// cancelled, the transport is ended: the call in progress fails with `.transport`, the
    /// agent sees its client gone and ends what it was doing (a command's process group
    /// included), and the connection is closed. It is not used again.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (TunnelConnection) throws(TunnelError) -> T) async throws -> T {
        let connection = UncheckedConnection(self)
        return try await withTaskCancellationHandler {
            try await Task.detached { try body(connection.value) }.value
        } onCancel: {
            connection.value.transport.terminate()
        }
    }
}

/// Carries a connection into the task that uses it; `perform` guarantees one user at a time.
private struct UncheckedConnection: @unchecked Sendable {
    let value: TunnelConnection
    init(_ value: TunnelConnection) { self.value = value }
}

import CPosix

/// The umask the agent was started with (an ssh login's, usually 022), before it set its own
/// 077 as the reference does. RunEx gives it to commands that ask for none, as ssh would;
/// fora's ProcessRun keeps the reference's 077.
enum InheritedUmask {
    nonisolated(unsafe) static var value: UInt32 = 0o077

    /// Sets the agent's own umask to `own`, remembering the one it replaces.
    static func replace(with own: UInt32) {
        value = UInt32(umask(mode_t(own))) & 0o777
    }
}

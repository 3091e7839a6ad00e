#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// A command on a remote pseudo-terminal (`run -t`, `shell`): the local terminal raw while
/// it runs, every key sent as it is typed (Ctrl-C included: the remote pty makes it a
/// SIGINT), the output written as it comes, each window change sent on.
struct TerminalRun {
    let terminal: LocalTerminal

    /// What the relay catches: the ends it passes on, and the window's changes.
    static let relayedSignals = InterruptCounter.caught + [SIGWINCH]

    /// ssh's words when `-t` is asked for without a terminal (the run goes on without a pty).
    static let notATerminal = "tunnel: pseudo-terminal will not be allocated because stdin is not a terminal\n"

    /// `options` made a terminal run: the local window's size, and the local TERM (as ssh
    /// sends it) before the user's own settings, which may change it.
    func prepare(_ options: inout RunOptions) {
        options.terminal = terminal.size
        if let term = getenv("TERM") { options.setEnvironment.insert("TERM=" + String(cString: term), at: 0) }
        options.stdin = []
    }

    /// Relays `run` until it finishes; returns its returncode and whether it timed out. The
    /// local terminal is raw only inside, and restored on every way out.
    func relay(_ run: StreamedRun, of agent: TunnelConnection) throws -> (Int32, Bool) {
        let interrupts = InterruptCounter()
        defer { interrupts.restore() }
        let windowChanges = WindowChanges()
        defer { windowChanges.restore() }
        let blocked = SignalsBlocked(TerminalRun.relayedSignals)
        defer { blocked.restore() }
        terminal.makeRaw()
        defer { terminal.restore() }
        var forwarded = 0
        /// Signals first, then keys: a window change made before a key is typed reaches the
        /// command before the key does.
        func actOnSignals() throws {
            // Keys cannot make these in raw mode: they came from kill(1) or a closed window.
            if interrupts.count > forwarded {
                forwarded = interrupts.count
                try report { () throws(TunnelError) in try run.signal(forwarded == 1 ? interrupts.first : SIGKILL) }
            }
            if windowChanges.takeChange() {
                try report { () throws(TunnelError) in try run.resize(to: terminal.size) }
            }
        }
        var readingKeys = true
        while true {
            try actOnSignals()
            if !agent.hasBufferedAnswer {
                var fds = [pollfd(fd: agent.answerDescriptor, events: Int16(POLLIN), revents: 0)]
                if readingKeys { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
                if waitForReadiness(&fds, deliverable: blocked) < 0 { continue }   // EINTR: a signal to act on
                // ppoll that finds a descriptor ready returns without delivering a signal
                // that is pending already (the kernel puts the mask back first): let it in now.
                letPendingSignalsIn()
                try actOnSignals()
                if readingKeys && fds[1].revents != 0 { readingKeys = try forwardKeys(to: run) }
                if fds[0].revents == 0 { continue }
            }
            switch try report({ () throws(TunnelError) in try run.next() }) {
            case .output(_, let bytes): try writeOut(bytes, to: 1)
            case .finished(let returncode, let timedOut): return (returncode, timedOut)
            }
        }
    }

    /// Delivers the relay's signals that are pending (their handlers only count and note).
    private func letPendingSignalsIn() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in TerminalRun.relayedSignals { sigaddset(&signals, number) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// One read of the keyboard, sent on; false once stdin has ended (the remote terminal's
    /// input is then closed too).
    private func forwardKeys(to run: StreamedRun) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let got = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
        if got < 0 && (errno == EINTR || errno == EAGAIN) { return true }
        if got < 0 { throw localFailure("reading standard input") }
        try report { () throws(TunnelError) in
            if got == 0 { try run.closeInput() } else { try run.send(Array(chunk[0..<got])) }
        }
        return got > 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

/// The local terminal of `run -t` and `shell`: its size, and its raw mode while a remote
/// pty is attached. The remote pty's line discipline does the editing and turns Ctrl-C into
/// SIGINT, so the local one must pass every byte through untouched, as ssh does.
final class LocalTerminal {
    /// The terminal on stdin, or nil when stdin is not one (then `-t` runs without a pty).
    static func onStandardInput() -> LocalTerminal? {
        isatty(0) == 1 ? LocalTerminal() : nil
    }

    /// The mode before `makeRaw`, what `restore` puts back.
    private var saved: termios?

    /// The window's size (stdout's, else stdin's, as ssh asks); 0 × 0 when unknown.
    var size: TerminalSize {
        var window = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &window) != 0 && ioctl(0, UInt(TIOCGWINSZ), &window) != 0 {
            return TerminalSize(rows: 0, columns: 0)
        }
        return TerminalSize(rows: UInt32(window.ws_row), columns: UInt32(window.ws_col))
    }

    /// Raw mode (cfmakeraw: no echo, no line editing, no signals from keys, no output
    /// processing). TCSADRAIN: what tunnel wrote before is shown as it was meant to be.
    func makeRaw() {
        var mode = termios()
        guard tcgetattr(0, &mode) == 0 else { return }
        saved = mode
        cfmakeraw(&mode)
        _ = retryingOnInterrupt { tcsetattr(0, TCSADRAIN, &mode) }
    }

    /// Puts the saved mode back; the caller's `defer` makes sure it happens on every way out
    /// (the end, an error, SIGINT, SIGTERM and SIGHUP, which the relay catches).
    func restore() {
        guard var mode = saved else { return }
        saved = nil
        _ = retryingOnInterrupt { tcsetattr(0, TCSADRAIN, &mode) }
    }
}

/// tcsetattr with TCSADRAIN waits for output to drain, and a signal may interrupt it.
private func retryingOnInterrupt(_ call: () -> Int32) -> Int32 {
    while true {
        let result = call()
        if result == 0 || errno != EINTR { return result }
    }
}

/// Notes SIGWINCH (the local window changed size) for the relay loop, which sends the new
/// size on. Delivered only inside the loop's wait, like the interrupts (`SignalsBlocked`).
final class WindowChanges {
    private var previous = sigaction()

    init() {
        windowChanged = 0
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in windowChanged = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGWINCH, &action, &previous)
    }

    /// Whether the window changed since the last call.
    func takeChange() -> Bool {
        defer { windowChanged = 0 }
        return windowChanged != 0
    }

    func restore() { sigaction(SIGWINCH, &previous, nil) }
}

/// Written by the SIGWINCH handler only (a C-compatible global, as a handler must use).
nonisolated(unsafe) private var windowChanged: Int32 = 0

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CTunnelClient

/// Keeps the terminal's signals away from the transport (docs/usage.md, "Ctrl-C").
///
/// A Ctrl-C typed in a terminal is a SIGINT to the terminal's whole foreground process
/// group. If ssh (or `docker exec`) shared tunnel's group, that SIGINT would kill the
/// transport at once, and with it the only way to tell the remote command: its trap would
/// never run, and in a container the command would keep running. So the transport starts
/// in a process group of its own, and tunnel, the only one the terminal signals, passes the
/// Ctrl-C on as a Signal packet.
///
/// ssh still needs the terminal while it connects (a password, a passphrase, a new host
/// key): it reads /dev/tty, which a background group may not do. So while the transport
/// starts, its group is lent the terminal's foreground (`tcsetpgrp`), and tunnel takes it
/// back once the agent has answered (`TerminalLoan.end`). During that window a Ctrl-C goes
/// to ssh, as it would with ssh alone: it ends the connection attempt.
enum TransportProcessGroup {
    /// Spawn flags that make the child the leader of a new process group (with
    /// `posix_spawnattr_setpgroup(0)`, set here).
    static func isolate(_ attributes: inout posix_spawnattr_t) -> Int32 {
        posix_spawnattr_setpgroup(&attributes, 0)
        return Int32(POSIX_SPAWN_SETPGROUP)
    }

    /// After the spawn: lends the terminal to `child`'s group when this process has the
    /// terminal's foreground (nil otherwise: no terminal, or tunnel runs in the background),
    /// and makes a signal that would end this process end the transport first.
    static func started(_ child: pid_t) -> TerminalLoan? {
        TransportReaper.watch(child)
        return TerminalLoan(lendingTo: child)
    }

    /// The transport has ended: nothing to signal any more.
    static func ended(_ child: pid_t) {
        TransportReaper.forget(child)
    }
}

/// The controlling terminal's foreground, lent to the transport's process group while it
/// starts. `end()` takes it back (once; also on failure paths).
public final class TerminalLoan {
    private var terminal: Int32

    /// Nil when there is no controlling terminal or this process is not its foreground
    /// group: then there is nothing to lend.
    init?(lendingTo child: pid_t) {
        terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else { return nil }
        guard tcgetpgrp(terminal) == getpgrp() else {
            close(terminal)
            return nil
        }
        _ = TerminalLoan.whileBackgroundMayChangeIt { tcsetpgrp(terminal, child) }
        // ssh may already have touched the terminal before it was its own (a fast host-key
        // question): then the kernel stopped it (SIGTTIN/SIGTTOU). Now it may go on.
        _ = kill(-child, SIGCONT)
    }

    deinit { end() }

    /// Gives the foreground back to this process's group.
    public func end() {
        guard terminal >= 0 else { return }
        _ = TerminalLoan.whileBackgroundMayChangeIt { tcsetpgrp(terminal, getpgrp()) }
        close(terminal)
        terminal = -1
    }

    /// A background group that calls tcsetpgrp is sent SIGTTOU, which would stop it: the
    /// call is made with SIGTTOU blocked, as POSIX allows (then it simply succeeds).
    private static func whileBackgroundMayChangeIt(_ body: () -> Int32) -> Int32 {
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTTOU)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return body()
    }
}

/// In its own group, the transport no longer dies with tunnel when the terminal's Ctrl-C,
/// or a SIGTERM or SIGHUP sent to tunnel, ends tunnel outside a streamed run (which passes
/// them on instead). So when such a signal would end this process (its disposition is the
/// default), the handler first sends SIGTERM to the transport's group, as the shared group
/// used to, then dies of the signal as before. A host program that handles these signals
/// itself keeps its handlers: nothing is installed then. The group is the transport started
/// last (one is enough for tunnel, which opens one connection at a time), kept in an atomic
/// of the C shim: a handler may read it, and threads may start transports at once.
enum TransportReaper {
    private static let endingSignals = [SIGINT, SIGTERM, SIGHUP]

    static func watch(_ child: pid_t) {
        tc_watch_transport_group(child)
        #if os(Linux)
        for number in endingSignals {
            var current = sigaction()
            sigaction(number, nil, &current)
            guard current.__sigaction_handler.sa_handler == nil else { continue }   // not SIG_DFL: theirs
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                let group = tc_watched_transport_group()
                if group > 0 { _ = kill(-group, SIGTERM) }
                signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
        }
        #endif
    }

    static func forget(_ child: pid_t) {
        tc_forget_transport_group(child)
    }
}

/// Ends the transport started last at once (SIGTERM to its process group), for a program
/// about to die without closing its connection (tunnel, whose reader went away: EPIPE).
/// The agent then ends with its transport, quietly, and takes a running command with it.
public func endTransportAtOnce() {
    let group = tc_watched_transport_group()
    if group > 0 { _ = kill(-group, SIGTERM) }
}


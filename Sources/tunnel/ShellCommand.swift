import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

extension Run {
    /// `run -t`: the command on a remote pty (TerminalRun); exits with its status.
    func runOnTerminal(_ options: RunOptions, of agent: TunnelConnection, _ terminalRun: TerminalRun) throws {
        var options = options
        terminalRun.prepare(&options)
        let run = try refusalsReported { () throws(TunnelError) in try agent.startStreamedRun(options) }
        let (returncode, timedOut) = try terminalRun.relay(run, of: agent)
        agent.close()
        throw ExitCode(status(returncode: returncode, timedOut: timedOut))
    }
}

/// `tunnel shell`: the user's login shell on a remote pty, as `ssh host` gives it.
struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "The user's login shell on a pseudo-terminal, as 'ssh host' gives it.",
        usage: "tunnel shell [<options>]",   // the generated one lists every option: 208 columns
        discussion: """
        The shell of the user's passwd entry on the target (/bin/sh if it names
        none), as a login shell ('-l'): HOME, USER, LOGNAME, SHELL and PATH as
        su - sets them, this terminal's TERM, in HOME. Needs a terminal.
        A user without a passwd entry (a container's bare uid) gets /bin/sh in
        the agent's environment instead, with a note.
        Exit status: the shell's own, as for 'run'.
        """)
    @OptionGroup var target: TargetOptions
    @Option(help: "Log in as this user (default: the agent's).") var user: String?

    func run() throws {
        guard let terminal = LocalTerminal.onStandardInput() else {
            writeError("tunnel: shell needs a terminal on stdin (use 'run' for commands)\n")
            throw ExitCode(2)
        }
        let agent = try target.connect(needing: "shell")
        var options: RunOptions
        if let shell = try report({ () throws(TunnelError) in try agent.loginShell(of: user) }) {
            options = RunOptions([shell, "-l"])
            options.environment = .login
            options.user = user
        } else {
            // A container's uid with no passwd entry (docker exec -it box sh works there):
            // no login to make, the shell every image has, in the agent's environment.
            writeError("tunnel: the agent's user has no passwd entry: starting /bin/sh, not a login shell\n")
            options = RunOptions(["/bin/sh"])
        }
        let shell = String(decoding: options.command[0], as: UTF8.self)
        // A `run` of the shell, for its exit statuses and refusals (127: no such shell).
        let command = try Run.parse(["--", shell])
        try command.runOnTerminal(options, of: agent, TerminalRun(terminal: terminal))
    }
}

extension TunnelConnection {
    /// The login shell of `user` (the agent's own when nil) from its passwd entry on the
    /// target, /bin/sh when the entry names none (as login(1) does); nil when the agent's
    /// own user has no entry. A `user` asked for by name must exist.
    func loginShell(of user: String?) throws(TunnelError) -> String? {
        let name: String
        do throws(TunnelError) {
            name = try resolveUser(user)
        } catch .invalidField where user == nil {
            return nil
        }
        let shell = try queryUser(name).shell
        return shell.isEmpty ? "/bin/sh" : shell
    }
}

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
        abstract: "Start the user's login shell on a pseudo-terminal, as 'ssh host' does.",
        discussion: """
        The shell is the one in the user's passwd entry on the target (/bin/sh when it names
        none), started as a login shell ('-l') in a login environment (HOME, USER, LOGNAME,
        SHELL, PATH as su - sets them, and this terminal's TERM), in HOME. Needs a terminal.
        Exit status: the shell's own, as 'run' reports it.
        """)
    @OptionGroup var target: TargetOptions
    @Option(help: "Log in as this user (name or uid; default: the agent's).") var user: String?

    func run() throws {
        guard let terminal = LocalTerminal.onStandardInput() else {
            writeError("tunnel: shell needs a terminal on stdin (use 'run' for commands)\n")
            throw ExitCode(2)
        }
        let agent = try target.connect(needing: "shell")
        let shell = try report { () throws(TunnelError) in try agent.loginShell(of: user) }
        var options = RunOptions([shell, "-l"])
        options.environment = .login
        options.user = user
        // A `run` of the shell, for its exit statuses and refusals (127: no such shell).
        let command = try Run.parse(["--", shell, "-l"])
        try command.runOnTerminal(options, of: agent, TerminalRun(terminal: terminal))
    }
}

extension TunnelConnection {
    /// The login shell of `user` (the agent's own when nil) from its passwd entry on the
    /// target, /bin/sh when the entry names none (as login(1) does).
    func loginShell(of user: String?) throws(TunnelError) -> String {
        let name = try resolveUser(user)
        let shell = try queryUser(name).shell
        return shell.isEmpty ? "/bin/sh" : shell
    }
}

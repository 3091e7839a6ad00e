import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        // Both spare each start some of ArgumentParser's reflection (issue 20, ~20% of the
        // client's instructions, docs/performance.md): a name given is not derived from the
        // type's (String(describing:), whose dynamic casts scan every protocol conformance of
        // the binary), and a command with a super-command, parsed alone (parseFromSubcommand),
        // is not first parsed for --generate-completion-script (the root, which answers that
        // request, still is; help and usage texts are the same).
        commandName: "run",
        _superCommandName: "tunnel",
        abstract: "Run a command (argv, never a shell); its output shows as it is written, then its status.",
        discussion: """
        Ctrl-C (in a terminal too) sends SIGINT to the remote command's process group;
        SIGTERM and SIGHUP are passed on likewise; a second one sends SIGKILL. The
        command never stays behind.
        Exit status: the command's own; 128+N for signal N; 124 when --timeout ended
        it; 127 when the program does not exist, 126 when it cannot be executed.
        """)
    @OptionGroup var target: TargetOptions
    @Flag(help: ArgumentHelp("Send this program's stdin to the command (the default; kept for scripts).",
                             visibility: .hidden)) var stdin = false
    @Flag(name: [.customShort("n"), .customLong("no-stdin")],
          help: "The command reads /dev/null instead of this program's stdin (as ssh -n).") var noStdin = false
    @Option(name: .customLong("stdin-file"), help: ArgumentHelp("Send this local file to the command's stdin.", valueName: "file"))
    var stdinFile: String?
    @Option(help: "Run as this user (name or uid).") var user: String?
    @Option(help: "Run with this group (name or gid).") var group: String?
    @Option(help: "Octal umask (default: the agent's inherited one, an ssh login's; 077 with --compat).")
    var umask: String?
    @Option(help: "Working directory.") var cwd: String?
    @Option(name: .customLong("env"), help: ArgumentHelp("Set KEY=VALUE, or remove KEY, in the command's environment (repeatable).",
                                                          valueName: "KEY=VALUE"))
    var environmentSettings: [String] = []
    @Flag(help: "A login environment for the user (HOME, USER, LOGNAME, SHELL, PATH as su - sets them), starting in HOME.")
    var login = false
    @Flag(help: "Start from an empty environment (then --env adds to it).") var emptyEnv = false
    @Option(help: ArgumentHelp("End the command after this many seconds: SIGTERM to its process group, SIGKILL 2 s later.",
                               valueName: "seconds"))
    var timeout: Double?
    @Flag(help: "Collect the output and show it at the end, as fora's ProcessRun does.") var noStream = false
    @Flag(help: "Let the command's output go to the agent's stderr instead of capturing it (ProcessRun).") var noCapture = false
    @Flag(name: [.customShort("t"), .customLong("tty")],
          help: "On a pseudo-terminal, as ssh -t: keys, Ctrl-C, window size pass. Twice (-tt): even when stdin is not a terminal.")
    var tty: Int
    /// The remote command: everything after `--` or from the first word that is not an
    /// option of tunnel's. (Captured as the parser finds it; `validate` rejects a leading
    /// option tunnel does not know, which would otherwise reach the remote host.)
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []

    var argv: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func validate() throws {
        if command.first == "--help" || command.first == "-h" { throw CleanExit.helpRequest(self) }
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first)' (the remote command starts after '--')")
        }
        if argv.isEmpty { throw ValidationError("missing the command to run") }
        if login && emptyEnv { throw ValidationError("--login and --empty-env are alternatives") }
        if stdin && stdinFile != nil { throw ValidationError("--stdin and --stdin-file are alternatives") }
        if noStdin && (stdin || stdinFile != nil) { throw ValidationError("-n and --stdin/--stdin-file are alternatives") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if tty > 0 && (noStream || noCapture || stdinFile != nil) {
            throw ValidationError("-t/--tty streams the terminal: not with --no-stream, --no-capture or --stdin-file")
        }
    }

    /// Whether the run needs RunEx (the extensions) rather than fora's ProcessRun.
    private var needsExtensions: Bool {
        !environmentSettings.isEmpty || login || emptyEnv || timeout != nil || terminal != nil
    }

    /// Where the command's stdin comes from: nil for /dev/null. As ssh, this program's stdin
    /// by default; not a terminal's for a captured run, which must read all of its input
    /// before it starts (it would wait for a Ctrl-D nobody knows to type).
    private func openStdinSource(capturing: Bool) throws -> Int32? {
        guard let stdinFile else {
            if noStdin || (capturing && !stdin && isatty(0) != 0) { return nil }
            return 0
        }
        let fd = open(stdinFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw localFailure(stdinFile) }
        return fd
    }

    /// The terminal `-t` runs on; nil without `-t`, or when stdin is not a terminal unless
    /// `-tt` forces one, as ssh -tt does (a pty for a program that wants one, fed from a pipe).
    private var terminal: LocalTerminal? {
        guard tty > 0 else { return nil }
        return LocalTerminal.onStandardInput() ?? (tty > 1 ? LocalTerminal() : nil)
    }

    func run() throws {
        if tty > 0 && terminal == nil { writeError(TerminalRun.notATerminal) }
        let processRun = noCapture || (target.compat && !needsExtensions)
        var source = try openStdinSource(capturing: processRun || noStream)
        defer { if let source, source != 0 { close(source) } }
        if processRun { return try runWithProcessRun(stdin: source) }
        let agent = try target.connect(needing: needsExtensions ? "--env, --login, --empty-env, --timeout and -t" : nil)
        guard agent.serves(.runEx) else {
            if source == 0 && !stdin && isatty(0) != 0 { source = nil }   // captured after all
            return try runWithProcessRun(on: agent, stdin: source)
        }
        var options = RunOptions(argv)
        options.environment = login ? .login : emptyEnv ? .empty : .agent
        options.setEnvironment = environmentSettings
        options.user = user
        options.group = group
        options.umask = umask
        options.cwd = cwd.map { Array($0.utf8) }
        options.timeout = timeout
        if let terminal { return try runOnTerminal(options, of: agent, TerminalRun(terminal: terminal)) }
        if noStream {
            if let source { options.stdin = try readAll(source) }
            let result = try refusalsReported { () throws(TunnelError) in try agent.run(options) }
            agent.close()
            try writeOut(result.stdout ?? [], to: 1)
            try writeOut(result.stderr ?? [], to: 2, name: "standard error")
            throw ExitCode(status(returncode: result.returncode, timedOut: result.timedOut))
        }
        if source != nil { options.stdin = [] }   // present: stdin stays open for what follows
        let streamed = try refusalsReported { () throws(TunnelError) in try agent.startStreamedRun(options) }
        let (returncode, timedOut) = try relay(streamed, of: agent, stdin: source)
        agent.close()
        throw ExitCode(status(returncode: returncode, timedOut: timedOut))
    }

    /// Output to stdout and stderr as it comes; this program's stdin (unless -n) to the
    /// command; Ctrl-C to its process group. One poll loop, so none waits on the other.
    private func relay(_ run: StreamedRun, of agent: TunnelConnection, stdin source: Int32?) throws -> (Int32, Bool) {
        let interrupts = InterruptCounter()
        defer { interrupts.restore() }
        // Delivered only inside the wait: one that comes after the check below and before
        // the wait ends the wait at once, instead of waiting for the next output.
        let blocked = SignalsBlocked(InterruptCounter.caught)
        defer { blocked.restore() }
        var forwarded = 0
        var readingStdin = source != nil
        while true {
            if interrupts.count > forwarded {
                forwarded = interrupts.count
                let number = forwarded == 1 ? interrupts.first : SIGKILL
                try refusalsReported { () throws(TunnelError) in try run.signal(number) }
            }
            if !agent.hasBufferedAnswer {
                var fds = [pollfd(fd: agent.answerDescriptor, events: Int16(POLLIN), revents: 0)]
                if readingStdin, let source { fds.append(pollfd(fd: source, events: Int16(POLLIN), revents: 0)) }
                if waitForReadiness(&fds, deliverable: blocked) < 0 { continue }   // EINTR: a Ctrl-C to pass on
                if readingStdin && fds.count > 1 && fds[1].revents != 0 {
                    readingStdin = try forwardInput(from: source!, to: run)
                }
                if fds[0].revents == 0 { continue }
            }
            switch try refusalsReported({ () throws(TunnelError) in try run.next() }) {
            case .output(.stdout, let bytes): try writeOut(bytes, to: 1)
            case .output(.stderr, let bytes): try writeOut(bytes, to: 2, name: "standard error")
            case .finished(let returncode, let timedOut): return (returncode, timedOut)
            }
        }
    }

    /// One read of the stdin source, sent on; false once it has ended (then closed there too).
    private func forwardInput(from source: Int32, to run: StreamedRun) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let got = chunk.withUnsafeMutableBytes { Glibc.read(source, $0.baseAddress, $0.count) }
        if got < 0 && errno == EINTR { return true }
        if got < 0 { throw localFailure(stdinFile ?? "reading standard input") }
        try refusalsReported { () throws(TunnelError) in
            if got == 0 { try run.closeInput() } else { try run.send(Array(chunk[0..<got])) }
        }
        return got > 0
    }

    /// The exit status for a returncode (-N: signal N), as the discussion above says.
    func status(returncode: Int32, timedOut: Bool) -> Int32 {
        if timedOut { return 124 }
        return returncode < 0 ? 128 - returncode : returncode
    }

    /// fora's ProcessRun: output captured whole (the reference's way; --no-capture, --compat).
    private func runWithProcessRun(on connected: TunnelConnection? = nil, stdin source: Int32?) throws {
        let input = try source.map(readAll)
        let agent = try connected ?? target.connect()
        let result = try refusalsReported { () throws(TunnelError) in
            try agent.run(argv, stdin: input, captureOutput: !noCapture, user: user, group: group, umask: umask, cwd: cwd)
        }
        agent.close()
        try writeOut(result.stdout ?? [], to: 1)
        try writeOut(result.stderr ?? [], to: 2, name: "standard error")
        throw ExitCode(status(returncode: result.returncode, timedOut: false))
    }

    /// A program that could not be started gets the shell's statuses; other errors theirs.
    /// RunEx says which step failed (TunnelError.commandStartStatus); fora's ProcessRun says
    /// it only in its message, which names the program.
    func refusalsReported<T>(_ body: () throws(TunnelError) -> T) throws -> T {
        do {
            return try body()
        } catch let error where error.commandStartStatus != nil {
            writeError("tunnel: \(displayedMessage("\(error)"))\n")
            throw ExitCode(error.commandStartStatus!)
        } catch .remoteOSError(let error) where error.msg.hasSuffix(": " + pythonQuoted(argv[0])) {
            writeError("tunnel: remote: \(displayedMessage(error.plainText))\n")
            throw ExitCode(error.errno == Int64(ENOENT) ? 127 : 126)
        } catch .invalidField(let field) where field.field == "cwd" && cwd != nil {
            // The reference's "The directory does not exist" names no folder: name it.
            writeError("tunnel: --cwd: no folder \(displayedMessage(pythonQuoted(cwd!))) on the target\n")
            throw ExitCode(1)
        } catch .processError(let message) where message.contains("preexec_fn") {
            // fora's ProcessRun names Python's hook, not what failed: the switch of identity
            // or folder before the exec. Say which were asked for.
            writeError("tunnel: remote: \(argv[0]) could not be started: \(switchesAskedFor) failed\n")
            throw ExitCode(1)
        } catch .commandNotStarted(.prepareChild, let error) {
            // RunEx's same step, with the errno that says why.
            writeError("tunnel: remote: \(argv[0]) could not be started: \(switchesAskedFor) failed: \(error.strerror)\n")
            throw ExitCode(1)
        } catch {
            throw report(error)
        }
    }

    /// What ProcessRun changes before the exec, in words: "the switch to user 'www-data'".
    private var switchesAskedFor: String {
        var parts: [String] = []
        if let user { parts.append("user \(pythonQuoted(user))") }
        if let group { parts.append("group \(pythonQuoted(group))") }
        var text = parts.isEmpty ? "" : "the switch to " + parts.joined(separator: " and ")
        if let cwd { text += (text.isEmpty ? "" : ", or ") + "entering the folder \(pythonQuoted(cwd))" }
        return text.isEmpty ? "setting up the process" : text
    }

    /// The stdin source, whole (ProcessRun and --no-stream send it in one piece).
    private func readAll(_ source: Int32) throws -> [UInt8] {
        var result: [UInt8] = []
        try forEachChunk(of: source, name: stdinFile ?? "reading standard input") { result.append(contentsOf: $0) }
        return result
    }
}

/// Counts the signals that would end tunnel (Ctrl-C's SIGINT, SIGTERM, SIGHUP) while a
/// streamed run is relayed, instead of dying of the first: the loop passes them on to the
/// remote command, so that it never stays behind. Not restarted, so that the wait returns at
/// once; blocked outside it (`SignalsBlocked`), so that none is noticed late.
final class InterruptCounter {
    static let caught = [SIGINT, SIGTERM, SIGHUP]
    private var previous: [sigaction] = Array(repeating: sigaction(), count: 3)

    init() {
        interruptCount = 0
        firstInterrupt = 0
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            if interruptCount == 0 { firstInterrupt = number }
            interruptCount += 1
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        for (index, number) in Self.caught.enumerated() { sigaction(number, &action, &previous[index]) }
    }

    var count: Int { Int(interruptCount) }
    /// The first signal caught, the one passed on as it is.
    var first: Int32 { firstInterrupt }

    func restore() {
        for (index, number) in Self.caught.enumerated() { sigaction(number, &previous[index], nil) }
    }
}

/// Written by the signal handler only (C-compatible globals, as a handler must use).
nonisolated(unsafe) private var interruptCount: Int32 = 0
nonisolated(unsafe) private var firstInterrupt: Int32 = 0

import TunnelWire

/// RunEx → Output… RunFinished (an extension, see docs/protocol.md). Validated like
/// ProcessRun (umask, user, group, then the working directory), plus its environment;
/// then supervised by Session/RunSupervisor.swift, which streams or captures the output.
enum RunExHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> RunEx<Spool> {
        try RunEx<Spool>.decodeFields(from: &input) { (input, length) throws(WireError) in
            try input.spool(length: length)
        }
    }

    static func answer(_ request: RunEx<Spool>, in context: SessionContext) throws(Refusal) -> Answer {
        guard !request.command.isEmpty else { throw .invalidField("command", "The command list is empty.") }
        if request.command.contains(where: { $0.contains(0) }) {
            throw .invalidField("command", "An argument contains a NUL byte.")
        }
        for setting in request.setEnvironment where setting.contains(0) || Environment.name(of: setting).isEmpty {
            throw .invalidField("set_environment", "Each entry must be KEY=VALUE or KEY, without NUL bytes.")
        }
        if let failure = request.stdin?.failure { throw .osError(failure, path: nil) }
        var plan = ProcessPlan(argv: request.command, stdin: request.stdin, captureOutput: true, cwd: request.cwd)
        try ProcessRunHandler.applyIdentity(to: &plan, user: request.user, group: request.group, umask: request.umask,
                                            bareIDs: true)
        if request.umask == nil { plan.umask = InheritedUmask.value }   // as ssh: the login's, not 077
        try applyEnvironment(request, to: &plan)
        if let cwd = plan.cwd { try ProcessRunHandler.requireDirectory(try systemPath(bytes: cwd, field: "cwd")) }
        return .run(RunPlan(process: plan, answer: request.stream ? .runFinishedStreamed : .runFinishedCaptured,
                            timeoutMilliseconds: request.timeoutMilliseconds, graceMilliseconds: request.graceMilliseconds))
    }

    /// The base (the agent's, empty, or a login's), the settings on top, and the PATH that
    /// the program is looked up on. A login run starts in HOME unless given a folder.
    private static func applyEnvironment(_ request: RunEx<Spool>, to plan: inout ProcessPlan) throws(Refusal) {
        var base: [[UInt8]]
        switch request.environment {
        case .agent:
            base = Environment.agentEntries()
            // As ssh, su and sudo -u: a run as another user has that user's identity variables.
            if request.user != nil, let uid = plan.uid {
                base = Environment.applying(Environment.identityEntries(for: uid), to: base)
            }
        case .empty: base = []
        case .login:
            guard let user = plan.uid.map(Accounts.user(id:)) ?? Accounts.agentUser() else {
                throw .invalidField("user", "The user has no passwd entry to log in with.")
            }
            base = Environment.loginEntries(for: user)
            if plan.cwd == nil {
                let home = Array(user.home.utf8)
                let isFolder = SystemPath(bytes: home).flatMap { try? $0.status(followingLinks: true) }?.kind == .directory
                plan.cwd = isFolder ? home : Array("/".utf8)
            }
        }
        let entries = Environment.applying(request.setEnvironment, to: base)
        plan.environment = entries
        // No PATH at all: the lookup musl's execvp would use.
        plan.searchPath = Environment.value(of: "PATH", in: entries) ?? Array("/usr/local/bin:/bin:/usr/bin".utf8)
    }
}

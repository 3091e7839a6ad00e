import TunnelWire

/// ProcessRun → ProcessCompleted. Validated in the reference's order (umask, user, group,
/// cwd), then run as argv, never through a shell, by the session's RunSupervisor (as a
/// captured RunEx is): stdin fed and both outputs drained in one poll loop; started by
/// System/Subprocess.swift, the child keeping only fds 0–2, groups → gid → uid.
enum ProcessRunHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> ProcessRun<Spool> {
        try ProcessRun<Spool>.decodeFields(from: &input) { (input, length) throws(WireError) in
            try input.spool(length: length)
        }
    }

    static func answer(_ request: ProcessRun<Spool>, in context: SessionContext) throws(Refusal) -> Answer {
        // A captured RunEx in the reference's environment (the agent's own) and identity.
        .run(RunPlan(process: try makePlan(request), answer: .processCompleted))
    }

    private static func makePlan(_ request: ProcessRun<Spool>) throws(Refusal) -> ProcessPlan {
        guard !request.command.isEmpty else { throw .invalidField("command", "The command list is empty.") }
        for argument in request.command where argument.utf8.contains(0) {
            throw .invalidField("command", "An argument contains a NUL byte.")
        }
        if let stdinFailure = request.stdin?.failure { throw .osError(stdinFailure, path: nil) }
        var plan = ProcessPlan(command: request.command, stdin: request.stdin,
                               captureOutput: request.captureOutput, cwd: request.cwd)
        try applyIdentity(to: &plan, user: request.user, group: request.group, umask: request.umask)
        if let cwd = request.cwd { try requireDirectory(try systemPath(cwd, field: "cwd")) }
        return plan
    }

    /// The working directory must be one: Python's os.path.isdir (stat, following links).
    /// RunEx checks its own the same way.
    static func requireDirectory(_ cwd: SystemPath) throws(Refusal) {
        guard (try? cwd.status(followingLinks: true))?.kind == .directory else {
            throw .invalidField("cwd", "The directory does not exist")
        }
    }

    /// umask, user and group, validated in the reference's order (RunEx shares them, and
    /// also takes ids without an entry: `bareIDs`).
    static func applyIdentity(to plan: inout ProcessPlan, user: String?, group: String?,
                              umask: String?, bareIDs: Bool = false) throws(Refusal) {
        if let umask {
            switch PythonInt(parsing: umask, octal: true) {
            case .invalid:
                throw .invalidField("umask", octalFormatMessage(umask))
            case .value(let value) where value >= Int64(Int32.min) && value <= Int64(Int32.max):
                plan.umask = UInt32(truncatingIfNeeded: value) & 0o777
            default:
                // Python's os.umask raises OverflowError inside preexec_fn.
                plan.umaskOverflow = true
            }
        }
        if let user {
            let record = try resolveUserField(user, field: "user", bareIDs: bareIDs)
            plan.uid = record.uid
            plan.gid = record.gid
            // No name (a bare uid): no supplementary groups to look up, only the one gid.
            plan.userName = record.name.isEmpty ? nil : record.name
        }
        if let group {
            plan.gid = try resolveGroupField(group, bareIDs: bareIDs).gid
        }
    }
}

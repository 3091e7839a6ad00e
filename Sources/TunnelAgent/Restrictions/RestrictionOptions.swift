import CPosix
import TunnelWire

/// The command line's `--read-only`, `--allow`, `--deny`, `--root`, `--log` and
/// `--log-facility`, and what starting with them takes: the jail's directory opened, the
/// log's destination reachable. Any failure stops the agent before it serves a request.
struct RestrictionOptions {
    var policy = RequestPolicy()
    var root: String?
    var logDestination: String?
    var logFacility: String?
    /// Whether any option here was given (then an unknown argument is an error, not ignored:
    /// a misspelt restriction must not start an unrestricted agent).
    var given = false

    /// Takes `argument` (and its value from `rest`) if it is one of these options; false
    /// when it is not. Throws a usage message.
    mutating func take(_ argument: String, _ rest: inout ArraySlice<String>) throws(UsageError) -> Bool {
        var name = argument
        var inlineValue: String? = nil
        if let equals = argument.utf8.firstIndex(of: UInt8(ascii: "=")) {
            name = String(decoding: argument.utf8[..<equals], as: UTF8.self)
            inlineValue = String(decoding: argument.utf8[argument.utf8.index(after: equals)...], as: UTF8.self)
        }
        func value() throws(UsageError) -> String {
            if let inlineValue { return inlineValue }
            guard let next = rest.popFirst() else { throw UsageError(name + " needs a value") }
            return next
        }
        // isSameText, not ==: String's == links Unicode normalization tables.
        if name.isSameText(as: "--read-only") && inlineValue == nil {
            policy.readOnly = true
        } else if name.isSameText(as: "--allow") {
            policy.allowed = (policy.allowed ?? []) + (try RestrictionOptions.requests(try value(), option: name))
        } else if name.isSameText(as: "--deny") {
            policy.denied += try RestrictionOptions.requests(try value(), option: name)
        } else if name.isSameText(as: "--root") {
            root = try value()
            policy.rooted = true
        } else if name.isSameText(as: "--log") {
            logDestination = try value()
        } else if name.isSameText(as: "--log-facility") {
            logFacility = try value()
        } else {
            return false
        }
        given = true
        return true
    }

    /// Comma-separated request names (docs/protocol.md's), case-insensitive.
    static func requests(_ list: String, option: String) throws(UsageError) -> [PacketID] {
        var ids: [PacketID] = []
        for word in list.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            let name = String(decoding: word, as: UTF8.self)
            guard let id = RequestPolicy.request(named: name) else {
                throw UsageError(option + ": no request is named '" + name + "' (see docs/protocol.md)")
            }
            ids.append(id)
        }
        return ids
    }

    /// Opens the jail and the log; nil when no option was given.
    func start() throws(UsageError) -> Restrictions? {
        guard given else { return nil }
        if logFacility != nil && !(logDestination ?? "").isSameText(as: "syslog") {
            throw UsageError("--log-facility needs --log syslog")
        }
        if let root {
            guard let path = SystemPath(root), !path.isEmpty else { throw UsageError("--root needs a directory") }
            do throws(Errno) {
                try PathJail.confine(to: path)
            } catch where error == Errno(ENOSYS) {
                throw UsageError("--root needs openat2(2) (Linux 5.6 or later), which this kernel lacks; not starting",
                                 status: 1)
            } catch {
                throw UsageError("--root " + root + ": " + error.strerror, status: 1)
            }
        }
        return Restrictions(policy: policy, log: try openLog())
    }

    private func openLog() throws(UsageError) -> AuditLog? {
        guard let destination = logDestination else { return nil }
        let peer = Environment.value(of: "SSH_CLIENT")
        if destination.isSameText(as: "stderr") { return AuditLog(sink: .stream(2), sshClient: peer) }
        if destination.isSameText(as: "syslog") {
            let name = logFacility ?? "authpriv"
            let facility = name.withCString { tp_syslog_facility($0) }
            guard facility >= 0 else { throw UsageError("--log-facility: unknown facility '" + name + "'") }
            guard tp_syslog_open(facility) == 0 else {
                throw UsageError("--log syslog: /dev/log does not answer (" + Errno.current.strerror + "); not starting",
                                 status: 1)
            }
            return AuditLog(sink: .syslog, sshClient: peer)
        }
        guard let path = SystemPath(destination), !path.isEmpty else { throw UsageError("--log needs syslog, stderr or a file") }
        do throws(Errno) {
            // The host's file, never beneath --root; open (close-on-exec) for the whole session.
            let fd = try path.withCString { (name) throws(Errno) in
                try retryingInterrupts { tp_openat(AT_FDCWD, name, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0o600) }
            }
            return AuditLog(sink: .stream(fd), sshClient: peer)
        } catch {
            throw UsageError("--log " + destination + ": " + error.strerror, status: 1)
        }
    }
}

/// A command line the agent does not start with: the message, and the exit status (2 for
/// a usage mistake, 1 when the host cannot provide what was asked).
struct UsageError: Error {
    let message: String
    let status: Int32
    init(_ message: String, status: Int32 = 2) {
        self.message = message
        self.status = status
    }
}

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// `tunnel`: one request to a tunnel agent from the shell, e.g.
///     tunnel --ssh web1 run -- systemctl restart nginx
///     tunnel --docker box upload nginx.conf /etc/nginx/nginx.conf --mode 644
struct Tunnel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel",
        abstract: "Send requests to a tunnel-dispatcher agent over ssh, docker exec or any command.",
        discussion: """
        Reaching the target (before or after the subcommand):
          --ssh [user@]host[:port]   the system's ssh; the agent is started from the target's
                                     cache, or sent over the same connection when missing
          --docker container         the same through 'docker exec -i' (--engine podman)
          --sudo                     the agent runs as root (sudo -n over ssh)
          --via 'command'            a command that starts an agent already there

        Exit status:
          run          the remote command's own status; 128+N when it was killed by signal N;
                       127 when the program does not exist, 126 when it cannot be executed
          others       0 on success; 1 for an error on the target (a missing file, permission)
          all          2 for a usage error or a value the agent rejected (a bad mode, an
                       unknown user); 255 when tunnel itself failed: the transport (its own
                       message and status are passed on), the bootstrap, the protocol, or
                       local I/O such as a full disk at the destination

        Examples:
          tunnel --ssh web1 ping
          tunnel --ssh deploy@web1:2222 --sudo run -- systemctl restart nginx
          tunnel --docker box --engine podman run --user www-data --cwd /srv -- ls -l
          tunnel --ssh web1 upload nginx.conf /etc/nginx/nginx.conf --mode 644
          some-command | tunnel --ssh web1 upload - /srv/data.json
          tunnel --via "ssh web1 /usr/local/bin/tunnel-dispatcher" download /etc/hostname ./hostname
          tunnel installer > install.sh      # for cloud-init, Dockerfiles, provisioners
        """,
        version: "tunnel 0.2.0",
        subcommands: [Ping.self, Run.self, StatCommand.self, UploadCommand.self, DownloadCommand.self,
                      UserCommand.self, GroupCommand.self, GetenvCommand.self, InstallerCommand.self])
}

/// How to reach the agent; shared by every subcommand, and accepted before it too
/// (`tunnel --ssh web1 run -- uptime`, see `movingTargetOptions`).
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("ssh to the host (the system's ssh and its config) and start the agent there, sending it when it is not cached.",
                               valueName: "[user@]host[:port]"))
    var ssh: String?

    @Option(name: .customLong("ssh-option"), help: ArgumentHelp("An option for ssh, as 'ssh -o' takes it (repeatable), e.g. IdentityFile=~/.ssh/deploy.",
                                                                valueName: "option"))
    var sshOptions: [String] = []

    @Option(help: ArgumentHelp("'docker exec -i' into the container and start the agent there, sending it when it is not cached.",
                               valueName: "container"))
    var docker: String?

    @Option(help: ArgumentHelp("The container engine for --docker: docker, podman, ... Default: $TUNNEL_ENGINE, else docker.",
                               valueName: "program"))
    var engine: String?

    @Flag(help: "Run the agent as root: through 'sudo -n' over ssh, as --user 0 in a container.")
    var sudo = false

    @Option(help: ArgumentHelp(
        "A command that starts an agent already on the target, split on spaces (no shell). Default: $TUNNEL_VIA, else tunnel-dispatcher on PATH.",
        valueName: "command"))
    var via: String?

    @Flag(name: .shortAndLong, help: "Say how the agent was reached (cached or sent, and where it runs).")
    var verbose = false

    @Flag(name: .shortAndLong, help: "No progress display on the terminal.")
    var quiet = false

    /// The options that take a value, and the flags: what `movingTargetOptions` moves.
    static let valued: Set = ["--ssh", "--ssh-option", "--docker", "--engine", "--via"]
    static let flags: Set = ["--sudo", "--verbose", "-v", "--quiet", "-q"]

    func validate() throws {
        if [ssh, docker, via].compactMap({ $0 }).count > 1 {
            throw ValidationError("--ssh, --docker and --via are alternatives: give one")
        }
        if sudo && ssh == nil && docker == nil { throw ValidationError("--sudo needs --ssh or --docker") }
        if !sshOptions.isEmpty && ssh == nil { throw ValidationError("--ssh-option needs --ssh") }
        if engine != nil && docker == nil { throw ValidationError("--engine needs --docker") }
    }

    var route: Route {
        if let ssh { return .ssh(destination: ssh, options: sshOptions, sudo: sudo) }
        if let docker {
            let engine = self.engine ?? environment("TUNNEL_ENGINE") ?? "docker"
            return .container(engine: engine, name: docker, sudo: sudo)
        }
        let text = via ?? environment("TUNNEL_VIA") ?? "tunnel-dispatcher"
        return .command(text.split(separator: " ").map(String.init))
    }

    func connect() throws -> TunnelConnection {
        try report { () throws(TunnelError) in
            try TunnelConnection(route: route, log: { if verbose { writeError("tunnel: \($0)\n") } })
        }
    }
}

func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// `tunnel --ssh web1 -v run -- uptime` → `tunnel run --ssh web1 -v -- uptime`: the options
/// of TargetOptions given before the subcommand are moved after its name, where the parser
/// takes them (it has no options of the root command shared with subcommands).
func movingTargetOptions(_ arguments: [String]) -> [String] {
    var moved: [String] = []
    var index = 0
    while index < arguments.count {
        let word = arguments[index]
        let name = String(word.split(separator: "=", maxSplits: 1).first ?? "")
        if TargetOptions.valued.contains(name) {
            let takesNext = !word.contains("=") && index + 1 < arguments.count
            moved += takesNext ? [word, arguments[index + 1]] : [word]
            index += takesNext ? 2 : 1
        } else if TargetOptions.flags.contains(word) {
            moved.append(word)
            index += 1
        } else {
            break
        }
    }
    guard !moved.isEmpty, index < arguments.count else { return arguments }
    return [arguments[index]] + moved + arguments[(index + 1)...]
}

/// tunnel's own failures (transport, protocol, local I/O), as ssh reports its own: 255.
let ownFailure: Int32 = 255

/// Runs `body`; a TunnelError becomes a message on stderr and the documented exit status.
func report<T>(_ body: () throws(TunnelError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        writeError("tunnel: \(error)\n")
        throw ExitCode(exitStatus(for: error))
    }
}

func exitStatus(for error: TunnelError) -> Int32 {
    switch error {
    case .remoteOSError, .processError: return 1
    // The reference answers some missing files with InvalidField: still an error on the target.
    case .invalidField(let field) where field.errorMessage.hasPrefix("[Errno "): return 1
    case .invalidField: return 2
    default: return ownFailure
    }
}

/// A local failure of tunnel itself: the message, then exit 255.
func localFailure(_ what: String, _ code: Int32 = errno) -> ExitCode {
    writeError("tunnel: \(what): \(String(cString: strerror(code)))\n")
    return ExitCode(ownFailure)
}

func writeError(_ text: String) {
    var copy = text
    copy.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

/// Writes everything to `fd`; a failed write (ENOSPC, /dev/full, a closed pipe) is a
/// failure of tunnel, never silent.
func writeOut(_ bytes: [UInt8], to fd: Int32 = 1, name: String = "standard output") throws {
    let failure = bytes.withUnsafeBytes { writeFully($0, to: fd) }
    if failure != 0 { throw localFailure("writing \(name)", failure) }
}

/// write(2) until every byte is out: 0, or the errno of the write that failed.
func writeFully(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32 {
    var done = 0
    while done < bytes.count {
        let written = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return written < 0 ? errno : EIO }
        done += written
    }
    return 0
}

/// Reads `fd` to its end, handing each piece to `body`; a read error is a failure of
/// tunnel, named after `name`.
func forEachChunk(of fd: Int32, name: String, _ body: ([UInt8]) throws -> Void) throws {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if got < 0 && errno == EINTR { continue }
        if got < 0 { throw localFailure(name) }
        if got == 0 { return }
        try body(Array(chunk[0..<got]))
    }
}

/// Regular files whose st_size may not be their content's length: /proc says 0, sysfs 4096.
/// Copying every small file first costs little and covers both.
func sizeMayLie(_ fd: Int32, _ info: Glibc.stat) -> Bool {
    info.st_size <= 65536
}

/// A local file to upload from, with a size known in advance: a regular file as it is;
/// anything else (a pipe, `-` for stdin, /proc) copied first into an unnamed temporary file,
/// in pieces, so that memory stays bounded and the size sent is the size read.
func uploadSource(_ local: String) throws -> (fd: Int32, size: UInt64) {
    let fd = local == "-" ? dup(0) : open(local, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw localFailure(local) }
    var info = Glibc.stat()
    guard fstat(fd, &info) == 0 else { throw localFailure(local) }
    if info.st_mode & S_IFMT == S_IFREG && local != "-" && !sizeMayLie(fd, info) { return (fd, UInt64(info.st_size)) }
    defer { close(fd) }
    let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array((directory + "/tunnel-upload-XXXXXX").utf8CString)
    let spool = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard spool >= 0 else { throw localFailure("a temporary file in \(directory)") }
    unlink(String(cString: template))   // unnamed from now on: nothing to clean up
    var size: UInt64 = 0
    try forEachChunk(of: fd, name: local) { piece in
        try writeOut(piece, to: spool, name: "a temporary file in \(directory)")
        size += UInt64(piece.count)
    }
    lseek(spool, 0, SEEK_SET)
    return (spool, size)
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the agent answers (one CheckAlive round trip): prints ok.")
    @OptionGroup var target: TargetOptions

    func run() throws {
        let agent = try target.connect()
        agent.close()
        print("ok")
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a command (argv, never a shell) and relay its output and status.")
    @OptionGroup var target: TargetOptions
    @Flag(help: "Send this program's stdin to the command (default: /dev/null).") var stdin = false
    @Option(help: "Run as this user (name or uid).") var user: String?
    @Option(help: "Run with this group (name or gid).") var group: String?
    @Option(help: "Octal umask (default 077).") var umask: String?
    @Option(help: "Working directory.") var cwd: String?
    @Flag(help: "Let the command's output go to the agent's stderr instead of capturing it.") var noCapture = false
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
    }

    func run() throws {
        let input = stdin ? try readStandardInput() : nil
        let agent = try target.connect()
        let result: ProcessCompleted<[UInt8]>
        do {
            result = try agent.run(argv, stdin: input, captureOutput: !noCapture, user: user, group: group, umask: umask, cwd: cwd)
        } catch .remoteOSError(let error) where error.msg.hasSuffix(": " + pythonQuoted(argv[0])) {
            // The program itself could not be started: the shell's statuses.
            writeError("tunnel: remote: \(error.msg)\n")
            throw ExitCode(error.errno == Int64(ENOENT) ? 127 : 126)
        } catch {
            writeError("tunnel: \(error)\n")
            throw ExitCode(exitStatus(for: error))
        }
        agent.close()
        try writeOut(result.stdout ?? [], to: 1)
        try writeOut(result.stderr ?? [], to: 2, name: "standard error")
        if result.returncode != 0 {
            throw ExitCode(result.returncode < 0 ? 128 - result.returncode : result.returncode)
        }
    }

    /// This program's stdin, whole (what `--stdin` sends).
    private func readStandardInput() throws -> [UInt8] {
        var result: [UInt8] = []
        try forEachChunk(of: 0, name: "reading standard input") { result.append(contentsOf: $0) }
        return result
    }
}

struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stat", abstract: "Print a file's metadata as key=value lines (exit 1 when missing).")
    @OptionGroup var target: TargetOptions
    @Flag(help: "Follow a final symlink.") var follow = false
    @Flag(help: "Include the SHA-512 of a regular file.") var sha512 = false
    @Flag(help: "Print one JSON object: type, mode (octal string), owner, group, size, mtime and ctime (ns), sha512 (hex).")
    var json = false
    @Argument var path: String

    func run() throws {
        let agent = try target.connect()
        let result = try report { () throws(TunnelError) in try agent.stat(path, followLinks: follow, sha512: sha512) }
        agent.close()
        guard let result else {
            writeError("tunnel: \(path): no such file or directory\n")
            throw ExitCode(1)
        }
        let digest = result.sha512sum.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        if json {
            var fields = [("type", jsonString(result.type)), ("mode", jsonString(String(result.mode, radix: 8))),
                          ("owner", jsonString(result.owner)), ("group", jsonString(result.group)),
                          ("size", "\(result.size)"), ("mtime", "\(result.mtime)"), ("ctime", "\(result.ctime)")]
            if let digest { fields.append(("sha512", jsonString(digest))) }
            return print(jsonObject(fields))
        }
        var lines = ["type=\(result.type)", "mode=\(String(result.mode, radix: 8))", "owner=\(result.owner)",
                     "group=\(result.group)", "size=\(result.size)", "mtime=\(result.mtime)", "ctime=\(result.ctime)"]
        if let digest { lines.append("sha512=" + digest) }
        print(lines.joined(separator: "\n"))
    }
}

struct UploadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upload", abstract: "Replace a remote file with a local one (- for stdin); streamed, atomic.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Octal mode (default: a new file gets the local file's mode, an existing one keeps its own).") var mode: String?
    @Option(help: "Owner (name or uid).") var owner: String?
    @Option(help: "Group (name or gid).") var group: String?
    @Argument var local: String
    @Argument var remote: String

    func run() throws {
        let source = try uploadSource(local)
        defer { close(source.fd) }
        let agent = try target.connect()
        let (path, exists) = try report { () throws(TunnelError) in try destination(on: agent) }
        let file = FileContent(fd: source.fd, byteCount: source.size)
        let progress = Progress(total: source.size, quiet: target.quiet)
        file.progress = progress.update
        // As scp: a new file gets the local file's mode, an existing one keeps its own.
        let mode = self.mode ?? (exists ? nil : localMode())
        defer { progress.finish() }
        try report { () throws(TunnelError) in try agent.upload(path, streaming: file, mode: mode, owner: owner, group: group) }
        agent.close()
    }

    /// As with scp: a REMOTE ending in "/" or naming a directory means inside it, under the
    /// local file's name. Also says whether the target exists already.
    private func destination(on agent: TunnelConnection) throws(TunnelError) -> (String, Bool) {
        let name = local == "-" ? "stdin" : String(local.split(separator: "/").last ?? "stdin")
        var target = remote.hasSuffix("/") ? remote + name : remote
        if !remote.hasSuffix("/"), try agent.stat(remote, followLinks: true)?.type == "dir" {
            target = remote + "/" + name
        }
        return (target, try agent.stat(target, followLinks: true) != nil)
    }

    /// The local file's permission bits, as scp keeps them; nil (the agent's default) for
    /// stdin and pipes.
    private func localMode() -> String? {
        guard local != "-" else { return nil }
        var info = Glibc.stat()
        guard stat(local, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return String(info.st_mode & 0o7777, radix: 8)
    }
}

struct DownloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "download", abstract: "Write a remote file to a local path, or to stdout.")
    @OptionGroup var target: TargetOptions
    @Argument var remote: String
    @Argument var local: String?

    func run() throws {
        let agent = try target.connect()
        guard let local, local != "-" else { return try stream(from: agent, to: 1, name: "standard output") }
        var info = Glibc.stat()
        if stat(local, &info) == 0 && info.st_mode & S_IFMT != S_IFREG {
            // A device or fifo (/dev/full, a pipe): written directly, every error reported.
            let fd = open(local, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw localFailure(local) }
            defer { close(fd) }
            return try stream(from: agent, to: fd, name: local)
        }
        // A temporary beside the destination, renamed into place only when complete.
        var template = Array((local + ".tunnel-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw localFailure(local) }
        let temporary = String(cString: template)
        do {
            try stream(from: agent, to: fd, name: local)
            guard fsync(fd) == 0 else { throw localFailure(local) }
            _ = fchmod(fd, 0o666 & ~currentUmask())
            guard close(fd) == 0 else { throw localFailure(local) }
            guard rename(temporary, local) == 0 else { throw localFailure(local) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// The download, written to `fd` as it arrives (memory stays bounded whatever the size).
    private func stream(from agent: TunnelConnection, to fd: Int32, name: String) throws {
        var failedWrite: Int32 = 0
        // The size is known once the answer starts; a Stat first would cost a round trip.
        let progress = Progress(total: nil, quiet: target.quiet || fd == 1 && isatty(1) == 1)
        var received: UInt64 = 0
        defer { progress.finish() }
        do {
            try agent.download(remote) { piece in
                received += UInt64(piece.count)
                progress.update(received)
                failedWrite = writeFully(piece, to: fd)
                return failedWrite == 0
            }
        } catch {
            // The local error is the cause; the abandoned connection only follows from it.
            if failedWrite != 0 { throw localFailure("writing \(name)", failedWrite) }
            writeError("tunnel: \(error)\n")
            throw ExitCode(exitStatus(for: error))
        }
        agent.close()
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Print a user's entry (name or uid; default: the agent's own user).")
    @OptionGroup var target: TargetOptions
    @Flag(help: "Include the shadow password hash (needs root on the host).") var passwordHash = false
    @Flag(help: "Print one JSON object.") var json = false
    @Argument var user: String?

    func run() throws {
        let agent = try target.connect()
        let entry = try report { () throws(TunnelError) in
            var name = user
            if name == nil { name = try agent.resolveUser(nil) }
            return try agent.queryUser(name ?? "", passwordHash: passwordHash)
        }
        agent.close()
        if json {
            var fields = [("name", jsonString(entry.name)), ("uid", "\(entry.uid)"), ("group", jsonString(entry.group)),
                          ("gid", "\(entry.gid)"), ("groups", jsonArray(entry.groups)), ("gecos", jsonString(entry.gecos)),
                          ("home", jsonString(entry.home)), ("shell", jsonString(entry.shell))]
            if let hash = entry.passwordHash { fields.append(("password_hash", jsonString(hash))) }
            return print(jsonObject(fields))
        }
        var lines = ["name=\(entry.name)", "uid=\(entry.uid)", "group=\(entry.group)", "gid=\(entry.gid)",
                     "groups=\(entry.groups.joined(separator: ","))", "gecos=\(entry.gecos)",
                     "home=\(entry.home)", "shell=\(entry.shell)"]
        if let hash = entry.passwordHash { lines.append("password_hash=\(hash)") }
        print(lines.joined(separator: "\n"))
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "Print a group's entry (name or gid; default: the agent's own group).")
    @OptionGroup var target: TargetOptions
    @Flag(help: "Print one JSON object.") var json = false
    @Argument var group: String?

    func run() throws {
        let agent = try target.connect()
        let entry = try report { () throws(TunnelError) in
            var name = group
            if name == nil { name = try agent.resolveGroup(nil) }
            return try agent.queryGroup(name ?? "")
        }
        agent.close()
        if json {
            return print(jsonObject([("name", jsonString(entry.name)), ("gid", "\(entry.gid)"),
                                     ("members", jsonArray(entry.members))]))
        }
        print(["name=\(entry.name)", "gid=\(entry.gid)", "members=\(entry.members.joined(separator: ","))"].joined(separator: "\n"))
    }
}

struct GetenvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "getenv", abstract: "Print the agent's environment variable (exit 1 when unset).")
    @OptionGroup var target: TargetOptions
    @Argument var key: String

    func run() throws {
        let agent = try target.connect()
        let value = try report { () throws(TunnelError) in try agent.getenv(key) }
        agent.close()
        guard let value else { throw ExitCode(1) }
        print(value)
    }
}

/// Bytes, rate and time left on stderr, for transfers of a few megabytes and more, when
/// stderr is a terminal (never into a log or a pipe) and not `--quiet`.
final class Progress {
    private let total: UInt64?
    private let enabled: Bool
    private let started = Progress.now()
    private lazy var lastShown = started
    private var shown = false

    init(total: UInt64?, quiet: Bool) {
        self.total = total
        enabled = !quiet && isatty(2) == 1 && (total ?? UInt64.max) >= 4 << 20
    }

    func update(_ done: UInt64) {
        guard enabled, total != nil || done >= 4 << 20 else { return }
        let now = Progress.now()
        guard now - lastShown >= 0.1 || done == total else { return }
        lastShown = now
        shown = true
        let elapsed = max(now - started, 0.001)
        let rate = Double(done) / elapsed
        var line = "\r  \(Progress.megabytes(done))"
        if let total {
            line += " / \(Progress.megabytes(total))"
            let left = rate > 0 ? Int(Double(total - min(done, total)) / rate) : 0
            line += "  \(Progress.megabytes(UInt64(rate)))/s  ETA \(left / 60):" + (left % 60 < 10 ? "0" : "") + "\(left % 60)"
        } else {
            line += "  \(Progress.megabytes(UInt64(rate)))/s"
        }
        writeError(line + "   ")
    }

    /// Ends the line, if one was shown.
    func finish() {
        if shown { writeError("\n") }
    }

    private static func megabytes(_ bytes: UInt64) -> String {
        let tenths = bytes * 10 / 1_000_000
        return "\(tenths / 10).\(tenths % 10) MB"
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// A JSON object with keys in the given order (stable for scripts); values are already JSON.
func jsonObject(_ fields: [(String, String)]) -> String {
    "{" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
}

func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                result += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

func jsonArray(_ values: [String]) -> String { "[" + values.map(jsonString).joined(separator: ", ") + "]" }

/// Python's repr quoting of a simple name, as the agent's OSError messages use it.
func pythonQuoted(_ text: String) -> String { text.contains("'") ? "\"\(text)\"" : "'\(text)'" }

/// The process umask (read by setting it and setting it back).
func currentUmask() -> mode_t {
    let mask = umask(0o022)
    umask(mask)
    return mask
}

// Usage errors exit 2 (ArgumentParser's default is 64), as the exit-status table says.
do {
    var command = try Tunnel.parseAsRoot(movingTargetOptions(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch {
    if Tunnel.exitCode(for: error) == .validationFailure {
        writeError(Tunnel.fullMessage(for: error) + "\n")
        exit(2)
    }
    Tunnel.exit(withError: error)
}

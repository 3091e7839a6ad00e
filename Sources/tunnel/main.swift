import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// `tunnel`: one request to a tunnel agent from the shell, e.g.
///     tunnel --via "ssh web1 /tmp/tunnel-dispatcher" run -- systemctl restart nginx
///     tunnel --via "docker exec -i box /tunnel-dispatcher" upload nginx.conf /etc/nginx/nginx.conf --mode 644
struct Tunnel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel",
        abstract: "Send requests to a tunnel-dispatcher agent over any transport command.",
        discussion: """
        Exit status: a run's own exit status (128+N when killed by signal N); 1 for an error \
        on the remote host, 2 for a rejected value, 3 when the transport or the stream failed.
        """,
        subcommands: [Run.self, StatCommand.self, UploadCommand.self, DownloadCommand.self,
                      UserCommand.self, GroupCommand.self, GetenvCommand.self])
}

/// How to reach the agent; shared by every subcommand.
struct Via: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The transport command, split on spaces (no shell). Default: $TUNNEL_VIA, else tunnel-dispatcher on PATH.",
        valueName: "command"))
    var via: String?

    var command: [String] {
        let text = via ?? (getenv("TUNNEL_VIA").map { String(cString: $0) }) ?? "tunnel-dispatcher"
        return text.split(separator: " ").map(String.init)
    }

    func connect() throws -> TunnelConnection {
        try report { () throws(TunnelError) in try TunnelConnection(command: command) }
    }
}

/// Runs `body`; a TunnelError becomes a message on stderr and the documented exit status.
func report<T>(_ body: () throws(TunnelError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        writeError("tunnel: \(error)\n")
        switch error {
        case .remoteOSError, .processError: throw ExitCode(1)
        case .invalidField: throw ExitCode(2)
        default: throw ExitCode(3)
        }
    }
}

func writeError(_ text: String) {
    var copy = text
    copy.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

func writeOut(_ bytes: [UInt8], to fd: Int32 = 1) {
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let written = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
            if written <= 0 { return }
            done += written
        }
    }
}

/// Reads a whole (local) file or stdin.
func readAll(fd: Int32) -> [UInt8] {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if got < 0 && errno == EINTR { continue }
        if got <= 0 { return result }
        result.append(contentsOf: chunk[0..<got])
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a command (argv, never a shell) and relay its output and status.")
    @OptionGroup var via: Via
    @Flag(help: "Send this program's stdin to the command (default: /dev/null).") var stdin = false
    @Option(help: "Run as this user (name or uid).") var user: String?
    @Option(help: "Run with this group (name or gid).") var group: String?
    @Option(help: "Octal umask (default 077).") var umask: String?
    @Option(help: "Working directory.") var cwd: String?
    @Flag(help: "Let the command's output go to the agent's stderr instead of capturing it.") var noCapture = false
    @Argument(parsing: .captureForPassthrough) var command: [String]

    func run() throws {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        let input = stdin ? readAll(fd: 0) : nil
        let agent = try via.connect()
        let result = try report { () throws(TunnelError) in
            try agent.run(argv, stdin: input, captureOutput: !noCapture, user: user, group: group, umask: umask, cwd: cwd)
        }
        agent.close()
        writeOut(result.stdout ?? [], to: 1)
        writeOut(result.stderr ?? [], to: 2)
        if result.returncode != 0 {
            throw ExitCode(result.returncode < 0 ? 128 - result.returncode : result.returncode)
        }
    }
}

struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stat", abstract: "Print a file's metadata as key=value lines (exit 1 when missing).")
    @OptionGroup var via: Via
    @Flag(help: "Follow a final symlink.") var follow = false
    @Flag(help: "Include the SHA-512 of a regular file.") var sha512 = false
    @Argument var path: String

    func run() throws {
        let agent = try via.connect()
        let result = try report { () throws(TunnelError) in try agent.stat(path, followLinks: follow, sha512: sha512) }
        agent.close()
        guard let result else {
            writeError("tunnel: \(path): no such file or directory\n")
            throw ExitCode(1)
        }
        var lines = ["type=\(result.type)", "mode=\(String(result.mode, radix: 8))", "owner=\(result.owner)",
                     "group=\(result.group)", "size=\(result.size)", "mtime=\(result.mtime)", "ctime=\(result.ctime)"]
        if let digest = result.sha512sum {
            lines.append("sha512=" + digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
        }
        print(lines.joined(separator: "\n"))
    }
}

struct UploadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upload", abstract: "Replace a remote file with a local one (- for stdin); streamed, atomic.")
    @OptionGroup var via: Via
    @Option(help: "Octal mode.") var mode: String?
    @Option(help: "Owner (name or uid).") var owner: String?
    @Option(help: "Group (name or gid).") var group: String?
    @Argument var local: String
    @Argument var remote: String

    func run() throws {
        let agent = try via.connect()
        if local == "-" {
            let content = readAll(fd: 0)
            try report { () throws(TunnelError) in try agent.upload(remote, content: content, mode: mode, owner: owner, group: group) }
        } else {
            let fd = open(local, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                writeError("tunnel: \(local): \(String(cString: strerror(errno)))\n")
                throw ExitCode(2)
            }
            defer { close(fd) }
            var info = Glibc.stat()
            fstat(fd, &info)
            let file = FileContent(fd: fd, byteCount: UInt64(info.st_size))
            try report { () throws(TunnelError) in try agent.upload(remote, streaming: file, mode: mode, owner: owner, group: group) }
        }
        agent.close()
    }
}

struct DownloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "download", abstract: "Write a remote file to a local path, or to stdout.")
    @OptionGroup var via: Via
    @Argument var remote: String
    @Argument var local: String?

    func run() throws {
        let agent = try via.connect()
        let content = try report { () throws(TunnelError) in try agent.download(remote) }
        agent.close()
        guard let local else { return writeOut(content) }
        let fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            writeError("tunnel: \(local): \(String(cString: strerror(errno)))\n")
            throw ExitCode(2)
        }
        writeOut(content, to: fd)
        close(fd)
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Print a user's entry (name or uid; default: the agent's own user).")
    @OptionGroup var via: Via
    @Flag(help: "Include the shadow password hash (needs root on the host).") var passwordHash = false
    @Argument var user: String?

    func run() throws {
        let agent = try via.connect()
        let entry = try report { () throws(TunnelError) in
            var name = user
            if name == nil { name = try agent.resolveUser(nil) }
            return try agent.queryUser(name ?? "", passwordHash: passwordHash)
        }
        agent.close()
        var lines = ["name=\(entry.name)", "uid=\(entry.uid)", "group=\(entry.group)", "gid=\(entry.gid)",
                     "groups=\(entry.groups.joined(separator: ","))", "gecos=\(entry.gecos)",
                     "home=\(entry.home)", "shell=\(entry.shell)"]
        if let hash = entry.passwordHash { lines.append("password_hash=\(hash)") }
        print(lines.joined(separator: "\n"))
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "Print a group's entry (name or gid; default: the agent's own group).")
    @OptionGroup var via: Via
    @Argument var group: String?

    func run() throws {
        let agent = try via.connect()
        let entry = try report { () throws(TunnelError) in
            var name = group
            if name == nil { name = try agent.resolveGroup(nil) }
            return try agent.queryGroup(name ?? "")
        }
        agent.close()
        print(["name=\(entry.name)", "gid=\(entry.gid)", "members=\(entry.members.joined(separator: ","))"].joined(separator: "\n"))
    }
}

struct GetenvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "getenv", abstract: "Print the agent's environment variable (exit 1 when unset).")
    @OptionGroup var via: Via
    @Argument var key: String

    func run() throws {
        let agent = try via.connect()
        let value = try report { () throws(TunnelError) in try agent.getenv(key) }
        agent.close()
        guard let value else { throw ExitCode(1) }
        print(value)
    }
}

Tunnel.main()

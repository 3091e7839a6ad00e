import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the agent answers (one CheckAlive round trip): prints ok.")
    @OptionGroup var target: TargetOptions

    func run() throws {
        let agent = try target.connect()
        agent.close()
        print("ok")
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

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

struct Ping: ParsableCommand {
    // Named, not derived from the type by reflection: parseFromSubcommand reads the names of
    // the subcommands before the one given, and this is the first (see Run's).
    static let configuration = CommandConfiguration(commandName: "ping", abstract: "Check that the agent answers (one CheckAlive round trip): prints ok.",
                                                    usage: "tunnel ping [<options>]")
    @OptionGroup var target: TargetOptions

    func run() throws {
        let agent = try target.connect()
        try report { () throws(TunnelError) in try agent.waitForAgent() }
        agent.close()
        emitLine("ok")
    }
}

struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Print files' metadata as key=value lines (exit 1 when one is missing).",
        discussion: """
        A symlink also shows its target (target=...). With several paths, each record
        starts with path=... and records are separated by a blank line (with --json:
        one object per line). A missing path is reported and the others still shown.
        """)
    @OptionGroup var target: TargetOptions
    @Flag(help: "Follow a final symlink.") var follow = false
    @Flag(help: "Include the SHA-512 of a regular file.") var sha512 = false
    @Flag(help: "Print one JSON object per path: type, mode (octal string), owner, group, size, mtime and ctime (ns), sha512 (hex), target.")
    var json = false
    @Argument var paths: [String]

    func run() throws {
        let agent = try target.connect()
        var missing = false
        var first = true
        try forEachPath(paths) { (path) throws(TunnelError) in
            guard let result = try agent.stat(path, followLinks: follow, sha512: sha512) else {
                writeError("tunnel: \(displayedMessage(path)): no such file or directory\n")
                missing = true
                return
            }
            var fields: [(key: String, value: RecordValue)] = paths.count > 1 ? [("path", .text(path))] : []
            fields += [
                ("type", .text(result.type)), ("mode", .text(String(result.mode, radix: 8))), ("owner", .text(result.owner)),
                ("group", .text(result.group)), ("size", .number(result.size)), ("mtime", .number(result.mtime)),
                ("ctime", .number(result.ctime))]
            if let digest = result.sha512sum {
                fields.append(("sha512", .text(digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())))
            }
            // The link's target needs ReadLink (an extension): fora's dispatcher shows none.
            if result.type == "link", agent.serves(.readLink) {
                fields.append(("target", .text(String(decoding: try agent.readLink(Array(path.utf8)), as: UTF8.self))))
            }
            if !first && !json { emitLine("") }
            first = false
            printRecord(fields, json: json)
        }
        agent.close()
        if missing { throw ExitCode(1) }
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
        var fields: [(key: String, value: RecordValue)] = [
            ("name", .text(entry.name)), ("uid", .number(entry.uid)), ("group", .text(entry.group)),
            ("gid", .number(entry.gid)), ("groups", .list(entry.groups)), ("gecos", .text(entry.gecos)),
            ("home", .text(entry.home)), ("shell", .text(entry.shell))]
        if let hash = entry.passwordHash { fields.append(("password_hash", .text(hash))) }
        printRecord(fields, json: json)
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "Print a group's entry (name or gid; default: the agent's own group).",
                                                    usage: "tunnel group [<options>] [<group>]")
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
        printRecord([("name", .text(entry.name)), ("gid", .number(entry.gid)), ("members", .list(entry.members))],
                    json: json)
    }
}

struct GetenvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "getenv", abstract: "Print the agent's environment variable (exit 1 when unset).",
                                                    usage: "tunnel getenv [<options>] <key>")
    @OptionGroup var target: TargetOptions
    @Argument var key: String

    func run() throws {
        let agent = try target.connect()
        let value = try report { () throws(TunnelError) in try agent.getenv(key) }
        agent.close()
        guard let value else { throw ExitCode(1) }
        emitLine(displayed(value, on: 1))
    }
}

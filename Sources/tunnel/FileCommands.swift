import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

// ls, mkdir, rm, mv, chmod, chown, ln -s: the protocol extensions' file operations, which
// need no program on the target. As coreutils do, an error on one path is reported and the
// others still done; the exit status is then 1.

/// Runs `body` for each path; reports failures and throws the exit status at the end.
func forEachPath(_ paths: [String], _ body: (String) throws(TunnelError) -> Void) throws {
    var failed: Int32 = 0
    for path in paths {
        do throws(TunnelError) {
            try body(path)
        } catch {
            failed = max(failed, report(error).rawValue)
        }
    }
    if failed != 0 { throw ExitCode(failed) }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a remote folder (names as bytes, one per line).")
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "Long format: type and mode, owner, group, size, modification time (UTC), name.") var long = false
    @Flag(name: .short, help: "Include names that start with a dot.") var all = false
    @Argument var paths: [String] = ["."]

    func run() throws {
        let agent = try target.connect(needing: "ls")
        try forEachPath(paths) { (path) throws(TunnelError) in
            var entries: [DirEntry]
            do throws(TunnelError) {
                entries = try agent.listDirectory(Array(path.utf8), withStatus: long)
            } catch .remoteOSError(let error) where error.errno == Int64(ENOTDIR) {
                // A file lists as itself.
                let status = try agent.status(Array(path.utf8))
                entries = [DirEntry(name: Array(path.utf8), type: status?.type ?? "file", status: status)]
            }
            if paths.count > 1 { emit(Array("\(path == paths[0] ? "" : "\n")\(displayed(path, on: 1)):\n".utf8)) }
            for entry in entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) })
            where all || entry.name.first != UInt8(ascii: ".") {
                var line: [UInt8] = []
                if long, let status = entry.status { line += displayed(Array(longFields(status).utf8), on: 1) }
                line += displayed(entry.name, on: 1)
                if long && entry.type == "link" {
                    let child = Array(path.utf8) + [UInt8(ascii: "/")] + entry.name
                    if let target = try? agent.readLink(child) { line += Array(" -> ".utf8) + displayed(target, on: 1) }
                }
                line.append(UInt8(ascii: "\n"))
                emit(line)
            }
        }
        agent.close()
    }

    private func longFields(_ status: StatResult) -> String {
        let kinds = ["dir": "d", "link": "l", "chr": "c", "blk": "b", "fifo": "p", "sock": "s"]
        let mode = (kinds[status.type] ?? "-") + permissionString(UInt32(status.mode))
        return "\(mode) \(status.owner) \(status.group) \(status.size) \(utcTime(status.mtime)) "
    }
}


/// `rwxr-x---` with the set-id and sticky bits where ls shows them.
func permissionString(_ mode: UInt32) -> String {
    var text = ""
    for (shift, special, mark) in [(6, UInt32(0o4000), "s"), (3, 0o2000, "s"), (0, 0o1000, "t")] {
        let bits = (mode >> UInt32(shift)) & 7
        text += bits & 4 != 0 ? "r" : "-"
        text += bits & 2 != 0 ? "w" : "-"
        let executable = bits & 1 != 0
        text += mode & special != 0 ? (executable ? mark : mark.uppercased()) : (executable ? "x" : "-")
    }
    return text
}

/// Nanoseconds since the epoch as `2026-11-28 10:00` (UTC).
func utcTime(_ nanoseconds: UInt64) -> String {
    var seconds = time_t(nanoseconds / 1_000_000_000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min))"
}

struct MakeDirCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mkdir", abstract: "Make remote folders.")
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "Make missing parents too; an existing folder is no error.") var parents = false
    @Option(name: .shortAndLong, help: "Octal mode, set exactly (default 755).") var mode: String?
    @Argument var paths: [String]

    func run() throws {
        let agent = try target.connect(needing: "mkdir")
        try forEachPath(paths) { (path) throws(TunnelError) in
            try agent.makeDirectory(Array(path.utf8), mode: mode, parents: parents)
        }
        agent.close()
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove remote files, symlinks and empty folders; -r for trees.")
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "Remove folders and everything in them (symlinks are removed, never followed).") var recursive = false
    @Flag(name: .short, help: "A missing path is no error.") var force = false
    @Argument var paths: [String]

    func run() throws {
        let agent = try target.connect(needing: "rm")
        try forEachPath(paths) { (path) throws(TunnelError) in
            do throws(TunnelError) {
                try agent.remove(Array(path.utf8), recursive: recursive)
            } catch .remoteOSError(let error) where force && error.errno == Int64(ENOENT) {
                return
            }
        }
        agent.close()
    }
}

struct MoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mv", abstract: "Rename a remote file or folder (atomic); into TARGET when it is a folder.")
    @OptionGroup var target: TargetOptions
    @Flag(name: [.short, .customLong("no-clobber")], help: "Never replace an existing target.") var noClobber = false
    @Argument var source: String
    @Argument var destination: String

    func run() throws {
        let agent = try target.connect(needing: "mv")
        try forEachPath([source]) { (source) throws(TunnelError) in
            var to = destination
            if try agent.status(Array(destination.utf8), followLinks: true)?.type == "dir" {
                to = destination + (destination.hasSuffix("/") ? "" : "/") + String(decoding: lastComponent(Array(source.utf8)), as: UTF8.self)
            }
            try agent.rename(Array(source.utf8), to: Array(to.utf8), noReplace: noClobber)
        }
        agent.close()
    }
}

struct ChangeModeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chmod", abstract: "Set the octal mode of remote paths.",
                                                    usage: "tunnel chmod [<options>] <mode> <paths> ...")
    @OptionGroup var target: TargetOptions
    @Argument(help: "Octal, e.g. 640.") var mode: String
    @Argument var paths: [String]

    func run() throws {
        let agent = try target.connect(needing: "chmod")
        try forEachPath(paths) { (path) throws(TunnelError) in try agent.setMetadata(Array(path.utf8), mode: mode) }
        agent.close()
    }
}

struct ChangeOwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chown", abstract: "Set the owner and/or group of remote paths.")
    @OptionGroup var target: TargetOptions
    @Flag(help: "Change a symlink itself, not what it points to.") var noDereference = false
    @Argument(help: "OWNER, OWNER:GROUP or :GROUP (names or ids).") var owner: String
    @Argument var paths: [String]

    func run() throws {
        let parts = owner.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let user = parts[0].isEmpty ? nil : parts[0]
        let group = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
        guard user != nil || group != nil else { throw ValidationError("give OWNER, OWNER:GROUP or :GROUP") }
        let agent = try target.connect(needing: "chown")
        try forEachPath(paths) { (path) throws(TunnelError) in
            try agent.setMetadata(Array(path.utf8), followLinks: !noDereference, owner: user, group: group)
        }
        agent.close()
    }
}

struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ln", abstract: "Make a remote symlink: ln -s TARGET PATH.")
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "Symbolic (the only kind tunnel makes).") var symbolic = false
    @Argument var linkTarget: String
    @Argument var path: String

    func validate() throws {
        guard symbolic else { throw ValidationError("only symbolic links: ln -s TARGET PATH") }
    }

    func run() throws {
        let agent = try target.connect(needing: "ln -s")
        try forEachPath([path]) { (path) throws(TunnelError) in try agent.symlink(Array(path.utf8), to: Array(linkTarget.utf8)) }
        agent.close()
    }
}

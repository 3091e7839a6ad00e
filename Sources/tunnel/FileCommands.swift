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
    @Flag(name: .short, help: "Long format: type and mode, links, owner, group, size (or device numbers), modification time (UTC), name.")
    var long = false
    @Flag(name: .short, help: "Include names that start with a dot.") var all = false
    @Argument var paths: [String] = ["."]

    func run() throws {
        let agent = try target.connect(needing: "ls")
        try forEachPath(paths) { (path) throws(TunnelError) in
            var entries: [DirEntry]
            var listsItself = false
            do throws(TunnelError) {
                entries = try agent.listDirectory(Array(path.utf8), withStatus: long)
            } catch .remoteOSError(let error) where error.errno == Int64(ENOTDIR) {
                // A file lists as itself.
                let status = try agent.status(Array(path.utf8))
                entries = [DirEntry(name: Array(path.utf8), type: status?.type ?? "file", status: status)]
                listsItself = true
            }
            if paths.count > 1 { emit(Array("\(path == paths[0] ? "" : "\n")\(displayed(path, on: 1)):\n".utf8)) }
            let shown = entries.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) })
                .filter { all || $0.name.first != UInt8(ascii: ".") }
            func child(_ name: [UInt8]) -> [UInt8] { listsItself ? name : Array(path.utf8) + [UInt8(ascii: "/")] + name }
            // Link counts and device numbers: one more request for the whole listing. An agent
            // that does not serve it (older, or --deny StatNumbers): "?" for the count, as ls
            // shows what it cannot read, and a device's size.
            let numbers = long && agent.serves(.statNumbers) ? try? agent.fileNumbers(shown.map { child($0.name) }) : nil
            let columns = LongColumns(shown.enumerated().compactMap { index, entry in
                entry.status.map { ($0, numbers?[index]) }
            })
            for (index, entry) in shown.enumerated() {
                var line: [UInt8] = []
                if long, let status = entry.status { line += Array(columns.fields(status, numbers?[index]).utf8) }
                line += displayed(entry.name, on: 1)
                if long && entry.type == "link" {
                    if let target = try? agent.readLink(child(entry.name)) { line += Array(" -> ".utf8) + displayed(target, on: 1) }
                }
                line.append(UInt8(ascii: "\n"))
                emit(line)
            }
        }
        agent.close()
    }
}

/// `ls -l`'s columns before the name, aligned over one listing as GNU ls aligns them: the
/// link count and size on the left, owner and group padded on the right; a device shows
/// `major, minor` where a file shows its size, each number aligned in its own column.
private struct LongColumns {
    private var linksWidth = 0, ownerWidth = 0, groupWidth = 0, sizeWidth = 0, majorWidth = 0, minorWidth = 0

    init(_ entries: [(StatResult, FileNumbers?)]) {
        for (status, numbers) in entries {
            linksWidth = max(linksWidth, LongColumns.links(numbers).count)
            ownerWidth = max(ownerWidth, displayed(status.owner, on: 1).count)
            groupWidth = max(groupWidth, displayed(status.group, on: 1).count)
            if let numbers, LongColumns.isDevice(status) {
                majorWidth = max(majorWidth, "\(numbers.deviceMajor)".count)
                minorWidth = max(minorWidth, "\(numbers.deviceMinor)".count)
            } else {
                sizeWidth = max(sizeWidth, "\(status.size)".count)
            }
        }
        if majorWidth > 0 { sizeWidth = max(sizeWidth, majorWidth + 2 + minorWidth) }
    }

    func fields(_ status: StatResult, _ numbers: FileNumbers?) -> String {
        let kinds = ["dir": "d", "link": "l", "chr": "c", "blk": "b", "fifo": "p", "sock": "s"]
        let mode = (kinds[status.type] ?? "-") + permissionString(status.permissionBits)
        let owner = displayed(status.owner, on: 1), group = displayed(status.group, on: 1)
        var size = "\(status.size)"
        if let numbers, LongColumns.isDevice(status) {
            size = right("\(numbers.deviceMajor)", majorWidth) + ", " + right("\(numbers.deviceMinor)", minorWidth)
        }
        return "\(mode) \(right(LongColumns.links(numbers), linksWidth)) \(padded(owner, ownerWidth)) "
            + "\(padded(group, groupWidth)) \(right(size, sizeWidth)) \(utcTime(status.mtime)) "
    }

    private static func isDevice(_ status: StatResult) -> Bool { status.type == "chr" || status.type == "blk" }

    /// The link count; "?" when the agent could not say (an older agent, a name gone since).
    private static func links(_ numbers: FileNumbers?) -> String {
        guard let numbers, numbers.linkCount > 0 else { return "?" }
        return "\(numbers.linkCount)"
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    private func right(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
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
    static let configuration = CommandConfiguration(
        commandName: "mv",
        abstract: "Rename remote files or folders (atomic): into TARGET when it is a folder.",
        usage: "tunnel mv [<options>] <source> ... <target>",
        discussion: """
        As GNU mv: with several sources, TARGET must be a folder. A TARGET that is a
        symlink to a folder counts as the folder; -T replaces the link itself instead
        (mv -T new current switches a 'current' link at once).
        """)
    @OptionGroup var target: TargetOptions
    @Flag(name: [.short, .customLong("no-clobber")], help: "Never replace an existing target.") var noClobber = false
    @Flag(name: [.customShort("T"), .customLong("no-target-directory")],
          help: "Treat TARGET as a plain name, even a folder or a symlink to one: rename onto it.")
    var noTargetDirectory = false
    @Argument(help: "SOURCE ... TARGET") var paths: [String] = []

    func validate() throws {
        if paths.count < 2 { throw ValidationError("give a source and a target: mv SOURCE ... TARGET") }
        if noTargetDirectory && paths.count > 2 { throw ValidationError("-T takes one source and one target") }
    }

    func run() throws {
        let sources = Array(paths.dropLast())
        let destination = paths[paths.count - 1]
        let agent = try target.connect(needing: "mv")
        let intoFolder = try !noTargetDirectory
            && report { () throws(TunnelError) in try agent.status(Array(destination.utf8), followLinks: true)?.type == "dir" }
        if sources.count > 1 && !intoFolder {
            writeError("tunnel: target \(displayedMessage(pythonQuoted(destination))) is not a folder\n")
            throw ExitCode(1)
        }
        try forEachPath(sources) { (source) throws(TunnelError) in
            let to = intoFolder ? joined(destination, lastComponent(Array(source.utf8))) : Array(destination.utf8)
            try agent.rename(Array(source.utf8), to: to, noReplace: noClobber)
        }
        agent.close()
    }
}

/// `folder/name`, as bytes.
func joined(_ folder: String, _ name: [UInt8]) -> [UInt8] {
    Array(folder.utf8) + (folder.hasSuffix("/") ? [] : [UInt8(ascii: "/")]) + name
}

struct ChangeModeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chmod", abstract: "Set the mode of remote paths: octal or symbolic (u+x, go-w, a=rX).",
        usage: "tunnel chmod [<options>] <mode> <paths> ...",
        discussion: """
        As GNU chmod; a symbolic mode without u, g, o or a means a, not masked by any
        umask. -R changes the folder and everything below it; symlinks found inside
        are left alone (never followed), as GNU chmod -R does.
        """)
    @OptionGroup var target: TargetOptions
    @Flag(name: .customShort("R"), help: "Change folders and everything in them.") var recursive = false
    @Argument(help: "Octal (640) or symbolic (u+x,go-w).") var mode: String
    @Argument var paths: [String]

    func validate() throws {
        if ModeChange(mode) == nil { throw ValidationError("invalid mode '\(mode)': give octal (640) or symbolic (u+x,go-w)") }
    }

    func run() throws {
        let change = ModeChange(mode)!
        let agent = try target.connect(needing: "chmod")
        try forEachPath(paths) { (path) throws(TunnelError) in
            let top = Array(path.utf8)
            if recursive { try requireChangesBeneath(agent) }
            try apply(change, to: top, status: nil, on: agent)
            guard recursive, try agent.status(top, followLinks: true)?.type == "dir" else { return }
            let root = try agent.resolvingSymlinks(top) // pinned: see RemoteRealPath.swift
            try agent.walk(beneath: root, withStatus: change.octal == nil) { (child, entry) throws(TunnelError) in
                guard entry.type != "link" else { return }
                let mode = change.octal ?? entry.status.map { String(change.applied(to: $0), radix: 8) }
                guard let mode else { throw .invalidAnswer(field: "status", reason: "missing from a listing with status") }
                try agent.setMetadata(beneath: root, child, mode: mode)
            }
        }
        agent.close()
    }

    /// Sets the mode of one path; a symbolic change reads the current mode first.
    private func apply(_ change: ModeChange, to path: [UInt8], status known: StatResult?,
                       on agent: TunnelConnection) throws(TunnelError) {
        if let octal = change.octal { return try agent.setMetadata(path, mode: octal) }
        guard let status = try agent.status(path, followLinks: true) else {
            throw .remoteOSError(TunnelWire.OSError(errno: Int64(ENOENT), strerror: "No such file or directory",
                                                    msg: "[Errno 2] No such file or directory: "
                                                        + pythonQuoted(String(decoding: path, as: UTF8.self))))
        }
        try agent.setMetadata(path, mode: String(change.applied(to: status), radix: 8))
    }
}

struct ChangeOwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chown", abstract: "Set the owner and/or group of remote paths (names or numeric ids).",
        discussion: """
        -R changes the folder and everything below it; symlinks found inside are changed
        themselves and never followed, as GNU chown -R does.
        """)
    @OptionGroup var target: TargetOptions
    @Flag(name: .customShort("R"), help: "Change folders and everything in them.") var recursive = false
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
            let top = Array(path.utf8)
            if recursive { try requireChangesBeneath(agent) }
            try agent.setMetadata(top, followLinks: !noDereference, owner: user, group: group)
            guard recursive, try agent.status(top, followLinks: !noDereference)?.type == "dir" else { return }
            let root = try agent.resolvingSymlinks(top) // pinned: see RemoteRealPath.swift
            try agent.walk(beneath: root) { (child, _) throws(TunnelError) in
                try agent.setMetadata(beneath: root, child, owner: user, group: group)
            }
        }
        agent.close()
    }
}

/// chmod -R and chown -R change each listed entry relative to the tree's root, never through
/// a symlink someone swaps in for one of its folders meanwhile (SetMetadataBeneath). An
/// agent without it is refused before anything changes: changing by full path could be led
/// outside the tree (docs/security.md).
private func requireChangesBeneath(_ agent: TunnelConnection) throws(TunnelError) {
    for id in [PacketID.readBeneath, .setMetadataBeneath] where !agent.serves(id) { throw .extensionMissing(id) }
}

extension ModeChange {
    /// The mode this change makes of a file with this status.
    fileprivate func applied(to status: StatResult) -> UInt32 {
        applied(to: status.permissionBits, isDirectory: status.type == "dir")
    }
}

struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ln",
        abstract: "Make a remote symlink: ln -s TARGET PATH; ln -sfn switches an existing one atomically.",
        discussion: """
        As GNU ln: when PATH is a folder, or a symlink to one, the link is made inside
        it, named after TARGET; -n treats a symlink to a folder as a plain name.
        -f replaces an existing PATH atomically: the new link is made under a random
        temporary name beside it and renamed over it, so that a reader of PATH sees
        the old link or the new one, never none (ln -sfn /srv/v2 /srv/current).
        """)
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "Symbolic (the only kind tunnel makes).") var symbolic = false
    @Flag(name: .shortAndLong, help: "Replace an existing PATH (atomically), as ln -f.") var force = false
    @Flag(name: [.short, .customLong("no-dereference")],
          help: "A PATH that is a symlink to a folder is replaced (with -f), never entered.")
    var noDereference = false
    @Argument var linkTarget: String
    @Argument var path: String

    func validate() throws {
        guard symbolic else { throw ValidationError("only symbolic links: ln -s TARGET PATH") }
    }

    func run() throws {
        let agent = try target.connect(needing: "ln -s")
        try forEachPath([path]) { (path) throws(TunnelError) in
            var link = Array(path.utf8)
            if try entersFolder(path, on: agent) { link = joined(path, lastComponent(Array(linkTarget.utf8))) }
            if force {
                try switchLink(link, to: Array(linkTarget.utf8), on: agent)
            } else {
                try agent.symlink(link, to: Array(linkTarget.utf8))
            }
        }
        agent.close()
    }

    /// Whether the link goes inside PATH: a folder, or (without -n) a symlink to one.
    private func entersFolder(_ path: String, on agent: TunnelConnection) throws(TunnelError) -> Bool {
        guard let own = try agent.status(Array(path.utf8)) else { return false }
        if own.type == "dir" { return true }
        guard own.type == "link", !noDereference else { return false }
        return try agent.status(Array(path.utf8), followLinks: true)?.type == "dir"
    }
}

/// Makes `link` point to `target`, replacing whatever non-folder is there in one rename(2):
/// the new link is made under a random name in the same folder (Symlink never follows or
/// replaces, so a planted name only costs another try), then renamed over `link`.
func switchLink(_ link: [UInt8], to target: [UInt8], on agent: TunnelConnection) throws(TunnelError) {
    let folder = link.lastIndex(of: UInt8(ascii: "/")).map { Array(link[...$0]) } ?? []
    for attempt in 1...8 {
        let temporary = folder + Array(".tunnel-ln-\(String(UInt64.random(in: 1...UInt64.max), radix: 16))".utf8)
        do throws(TunnelError) {
            try agent.symlink(temporary, to: target)
        } catch .remoteOSError(let error) where error.errno == Int64(EEXIST) && attempt < 8 {
            continue
        }
        do throws(TunnelError) {
            try agent.rename(temporary, to: link)
        } catch {
            try? agent.remove(temporary)   // nothing of the attempt stays behind
            guard case .remoteOSError(let failure) = error else { throw error }
            // The agent names the temporary link; the user asked about `link`.
            let name = pythonQuoted(String(decoding: link, as: UTF8.self))
            throw .remoteOSError(TunnelWire.OSError(errno: failure.errno, strerror: failure.strerror,
                                                    msg: "[Errno \(failure.errno)] \(failure.strerror): \(name)"))
        }
        return
    }
}

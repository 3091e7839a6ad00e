import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// Regular files whose st_size may not be their content's length: /proc says 0, sysfs 4096.
/// Copying every small file first costs little and covers both.
func sizeMayLie(_ fd: Int32, _ info: Glibc.stat) -> Bool {
    info.st_size <= 65536
}

/// A local file to upload from, with a size known in advance: a regular file as it is;
/// anything else (a pipe, `-` for stdin, /proc) copied first into an unnamed temporary file,
/// in pieces, so that memory stays bounded and the size sent is the size read.
func uploadSource(_ local: String) throws -> (fd: Int32, size: UInt64) {
    // Close-on-exec from the start: nothing of ours may reach the transport (ssh and its
    // ProxyCommand), which is started after this.
    let fd = local == "-" ? fcntl(0, F_DUPFD_CLOEXEC, 3) : open(local, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw localFailure(local) }
    var info = Glibc.stat()
    guard fstat(fd, &info) == 0 else { throw localFailure(local) }
    if info.st_mode & S_IFMT == S_IFDIR {
        // As scp, a folder needs -r; a usage mistake (exit 2), with the way out.
        close(fd)
        writeError("tunnel: \(displayedMessage(local)): is a directory (use -r)\n")
        throw ExitCode(2)
    }
    if info.st_mode & S_IFMT == S_IFREG && local != "-" && !sizeMayLie(fd, info) { return (fd, UInt64(info.st_size)) }
    defer { close(fd) }
    let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    let folder = try LocalFolder.existing(LocalPath(directory))
    let (spool, name) = try folder.createTemporary(prefix: "tunnel-upload-", for: LocalPath("a temporary file in \(directory)"))
    _ = LocalPath(name).withCString { unlinkat(folder.fd, $0, 0) }   // unnamed from now on: nothing to clean up
    var size: UInt64 = 0
    try forEachChunk(of: fd, name: local) { piece in
        try writeOut(piece, to: spool, name: "a temporary file in \(directory)")
        size += UInt64(piece.count)
    }
    lseek(spool, 0, SEEK_SET)
    return (spool, size)
}

struct UploadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upload", abstract: "Replace a remote file with a local one (- for stdin); streamed, atomic.")
    @OptionGroup var target: TargetOptions
    @Option(help: "Octal mode (default: a new file gets the local file's mode, an existing one keeps its own).") var mode: String?
    @Option(help: "Owner (name or uid).") var owner: String?
    @Option(help: "Group (name or gid).") var group: String?
    @Flag(name: .short, help: "A whole folder: into REMOTE when it is a folder, else as REMOTE (as scp -r). Needs the extensions.")
    var recursive = false
    @Flag(name: .short, help: "With -r: existing files get their source's mode too (new ones always do), and every entry its mtime.")
    var preserveModes = false
    @Argument var local: String
    @Argument var remote: String

    func run() throws {
        if recursive {
            let agent = try target.connect(needing: "upload -r")
            let modes = UploadModes(forced: mode, preserve: preserveModes)
            let folder = Array(remote.utf8)
            if try report({ () throws(TunnelError) in try agent.status(folder, followLinks: true) })?.type == "dir" {
                // Into REMOTE under the local name; "." or ".." has none: its content goes into REMOTE.
                let name = lastComponent(Array(local.utf8))
                try uploadTree(LocalPath(local), into: folder, as: isSingleName(name) ? name : [], modes: modes, on: agent,
                               quiet: target.quiet)
            } else {
                guard let (parent, name) = folderAndName(folder) else {
                    writeError("tunnel: cannot upload a tree as \(remote): name a folder to make\n")
                    throw ExitCode(2)
                }
                try uploadTree(LocalPath(local), into: parent, as: name, modes: modes, on: agent, quiet: target.quiet)
            }
            agent.close()
            return
        }
        let source = try uploadSource(local)
        defer { close(source.fd) }
        let agent = try target.connect()
        let (path, exists) = try report { () throws(TunnelError) in try destination(on: agent) }
        let file = FileContent(fd: source.fd, byteCount: source.size)
        let progress = Progress(total: source.size, quiet: target.quiet)
        file.progress = progress.update
        // As scp: a new file gets the local file's mode (from a pipe, a shell redirect's),
        // an existing one keeps its own.
        let mode = self.mode ?? (exists ? nil : localMode())
        defer { progress.finish() }
        try report { () throws(TunnelError) in
            do throws(TunnelError) {
                if let (folder, name) = beneathForBareIDs(path, on: agent) {
                    // The folder pinned (RemoteRealPath.swift): the agent takes no symlink in it.
                    try agent.upload(beneath: try agent.resolvingSymlinks(folder), name, streaming: file, mode: mode, newFileMode: localMode(),
                                     owner: owner, group: group)
                } else {
                    try agent.upload(path, streaming: file, mode: mode, owner: owner, group: group)
                }
            } catch {
                throw error.naming(Array(path.utf8))   // a full disk names the file, as cp does
            }
        }
        agent.close()
    }

    /// fora's Upload takes only an owner or group with an entry (the reference's lookup);
    /// UploadBeneath, an extension, also takes a plain number, as `install -o 4242` does. So
    /// a number goes that way, as the file `name` beneath its `folder`: the same atomic
    /// replacement, but a symlink at `path` is replaced, not written through. nil: Upload.
    private func beneathForBareIDs(_ path: String, on agent: TunnelConnection) -> (folder: [UInt8], name: [UInt8])? {
        let isNumber = { (id: String?) in id.map { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } } ?? false }
        guard isNumber(owner) || isNumber(group), agent.serves(.uploadBeneath) else { return nil }
        return folderAndName(Array(path.utf8))
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

    /// The local file's permission bits, as scp keeps them. stdin, a pipe or /proc has none
    /// to keep: 0666 masked by the umask, as `cat > file` would create it (the agent's
    /// default, 600, would keep a web server from reading what was piped in).
    private func localMode() -> String? {
        var info = Glibc.stat()
        guard local != "-", stat(local, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return String(0o666 & ~currentUmask(), radix: 8)
        }
        return String(info.st_mode & 0o7777, radix: 8)
    }
}

struct DownloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "download", abstract: "Write a remote file to a local path (into it when a folder), or to stdout.")
    @OptionGroup var target: TargetOptions
    @Flag(name: .short, help: "A whole folder: into LOCAL when it is a folder (default .), else as LOCAL (as scp -r). Needs the extensions.")
    var recursive = false
    @Flag(name: .short, help: "Keep the remote mtime (with -r: every entry's), and a file's remote mode (as scp -p).")
    var preserve = false
    @Argument var remote: String
    @Argument var local: String?

    func run() throws {
        if recursive {
            let agent = try target.connect(needing: "download -r")
            var destination = LocalPath(local ?? ".")
            let name = lastComponent(Array(remote.utf8))
            // Into LOCAL under the remote name; "." or ".." has none: the content goes into LOCAL.
            if let info = destination.status(), info.st_mode & S_IFMT == S_IFDIR, isSingleName(name) {
                destination = destination.appending(name)
            }
            try downloadTree(Array(remote.utf8), to: destination,
                             options: DownloadOptions(preserve: preserve, durable: target.durable), quiet: target.quiet,
                             on: agent)
            agent.close()
            return
        }
        let agent = try target.connect()
        guard let local, local != "-" else { return try stream(from: agent, to: 1, name: "standard output") }
        var info = Glibc.stat()
        if stat(local, &info) == 0 && info.st_mode & S_IFMT != S_IFREG && info.st_mode & S_IFMT != S_IFDIR {
            // A device or fifo (/dev/full, a pipe): written directly, every error reported.
            let fd = open(local, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw localFailure(local) }
            defer { close(fd) }
            return try stream(from: agent, to: fd, name: local)
        }
        // For its mode and mtime. Refused (an agent allowing Download only) or missing: the
        // download itself says what is wrong, or the file gets 0666 masked by the umask.
        let remoteStatus = try? agent.stat(remote, followLinks: true)
        let destination = into(local)
        let (mode, modified) = modeAndTime(for: destination, remote: remoteStatus)
        // The Stat above gives the size: bytes, rate, total and time left, as scp shows them.
        let progress = Progress(total: remoteStatus?.size, quiet: target.quiet)
        defer { progress.finish() }
        try downloadReplacing(destination, from: remote, mode: mode, modified: modified, on: agent, progress: progress)
        agent.close()
    }

    /// As scp: a LOCAL that is a folder (or ends in "/") means inside it, under the remote
    /// file's name.
    private func into(_ local: String) -> LocalPath {
        let path = LocalPath(local)
        var info = Glibc.stat()
        let isFolder = local.hasSuffix("/") || path.withCString { stat($0, &info) } == 0 && info.st_mode & S_IFMT == S_IFDIR
        let name = lastComponent(Array(remote.utf8))
        return isFolder && isSingleName(name) ? path.appending(name) : path
    }

    /// The mode and mtime the downloaded file gets, as scp gives them: with -p the remote
    /// file's mode and mtime; else an existing file keeps its own mode and a new one gets the
    /// remote mode masked by the umask. Set-id bits are never copied: a target must not be
    /// able to hand the local user a set-id program.
    private func modeAndTime(for destination: LocalPath, remote: StatResult?) -> (mode_t, UInt64?) {
        let remoteMode = remote.map { mode_t($0.mode & 0o1777) } ?? 0o666
        if preserve { return (remoteMode, remote?.mtime) }
        if let existing = destination.status(), existing.st_mode & S_IFMT == S_IFREG {
            return (existing.st_mode & 0o7777, nil)
        }
        return (remoteMode & ~currentUmask(), nil)
    }

    /// The download, written to `fd` as it arrives (memory stays bounded whatever the size).
    private func stream(from agent: TunnelConnection, to fd: Int32, name: String) throws {
        // The size is known once the answer starts; a Stat first would cost a round trip.
        let progress = Progress(total: nil, quiet: target.quiet || fd == 1 && isatty(1) == 1)
        defer { progress.finish() }
        try streamDownload(remote, to: fd, name: name, on: agent, progress: progress)
        agent.close()
    }
}

/// `remote`'s content written to `fd` as it arrives. A failed local write is the error
/// reported (the abandoned connection only follows from it), then any error of the agent's.
func streamDownload(_ remote: String, to fd: Int32, name: String, on agent: TunnelConnection,
                    progress: Progress? = nil) throws {
    var failedWrite: Int32 = 0
    var received: UInt64 = 0
    do {
        try agent.download(remote) { piece in
            received += UInt64(piece.count)
            progress?.update(received)
            failedWrite = writeFully(piece, to: fd)
            return failedWrite == 0
        }
    } catch {
        if failedWrite != 0 && fd == 1 { endOnFailedStandardOutput(failedWrite) }   // `| head`, > /dev/full
        if failedWrite != 0 { throw localFailure("writing \(name)", failedWrite) }
        throw report(error)
    }
}

/// `remote` downloaded to a new file at `destination` with `mode`: written to a temporary
/// beside it, renamed into place only when complete, removed on any failure and when
/// SIGINT, SIGTERM or SIGHUP ends tunnel meanwhile (`LocalFolder.writeFile`).
func downloadReplacing(_ destination: LocalPath, from remote: String, mode: mode_t, modified: UInt64? = nil,
                       on agent: TunnelConnection, progress: Progress? = nil) throws {
    guard let (folder, name) = folderAndName(destination.bytes) else { throw localFailure(destination.text, EISDIR) }
    try LocalFolder.existing(LocalPath(folder)).writeFile(name, mode: mode, modified: modified) { fd in
        try streamDownload(remote, to: fd, name: destination.text, on: agent, progress: progress)
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

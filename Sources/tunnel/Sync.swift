import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

// tunnel sync: rsync -a's model. The sync is TunnelClient's (`TunnelConnection.sync`,
// SyncTrees.swift); this is its command line, its -i lines and its exit status.

struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Make a folder like another, as rsync -a does: one side is :PATH on the target.",
        discussion: """
            SRC/ copies the folder's content into DEST; SRC without the slash copies the folder
            itself, into DEST/NAME (rsync's trailing-slash rule). DEST is made when missing (not
            its parents). Owners and groups are copied when the receiving side is root.
            Exit status 23 when some entries failed (each is named), the rest done.
            """)
    @OptionGroup var target: TargetOptions
    @Flag(help: "Remove what DEST has and SRC does not (not what --exclude names).")
    var delete = false
    @Flag(name: [.customShort("n"), .long], help: "Change nothing; with -i, say what would change.")
    var dryRun = false
    @Flag(name: [.customShort("i"), .long], help: "One line per change, in rsync's format (e.g. <f.st...... name).")
    var itemizeChanges = false
    @Flag(name: [.customShort("c"), .long], help: "Compare files of the same size by SHA-512, not by mtime.")
    var checksum = false
    @Option(help: "Skip entries whose name matches PATTERN (a glob; with '/', the path below SRC; ending in '/', folders only). Repeatable.")
    var exclude: [String] = []
    @Argument(help: "What to copy (SRC/ for a folder's content); :PATH on the target for a pull.") var source: String
    @Argument(help: "Where to; :PATH on the target for a push.") var destination: String

    func validate() throws {
        switch (source.hasPrefix(":"), destination.hasPrefix(":")) {
        case (false, true): break
        case (true, false):
            if source.count < 2 { throw ValidationError("SRC names no path: :PATH") }
            return
        default: throw ValidationError("exactly one of SRC and DEST is on the target, written :PATH")
        }
        if destination.count < 2 { throw ValidationError("DEST names no path: :PATH") }
    }

    func run() throws {
        let agent = try target.connect(needing: "sync")
        let progress = TreeProgress(quiet: target.quiet)
        defer { progress.finish() }
        let report = treeReport(progress)
        var options = SyncOptions()
        options.delete = delete
        options.dryRun = dryRun
        options.checksum = checksum
        options.exclude = exclude
        options.durable = target.durable
        if itemizeChanges { options.itemize = printItem }
        options.entryFailed = report.entryFailed
        options.skipped = report.skipped
        let (from, to) = source.hasPrefix(":")
            ? (SyncLocation.remote(Array(source.utf8.dropFirst())), SyncLocation.local(Array(destination.utf8)))
            : (SyncLocation.local(Array(source.utf8)), SyncLocation.remote(Array(destination.utf8.dropFirst())))
        try runTree { try agent.sync(from: from, to: to, options: options, progress: report.progress).failures }
        agent.close()
    }
}

/// One `-i` line: rsync's 11-character code, the path below DEST (a folder with a trailing
/// "/"), and for a symlink " -> " and its target. Names are bytes, as `ls` prints them: into
/// a pipe as they are (a name that is not UTF-8 stays itself), escaped on a terminal (a
/// pull's names and link targets come from the target).
private func printItem(_ change: SyncChange) {
    var line = Array((change.code + " ").utf8)
    line += change.path.isEmpty ? Array("./".utf8) : displayed(change.path, on: 1) + (change.isFolder ? [UInt8(ascii: "/")] : [])
    if let linkTarget = change.linkTarget { line += Array(" -> ".utf8) + displayed(linkTarget, on: 1) }
    line.append(UInt8(ascii: "\n"))
    _ = line.withUnsafeBytes { writeFully($0, to: 1) }
}

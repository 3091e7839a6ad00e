import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

// upload -r, download -r and sync from the shell. The engines are TunnelClient's
// (TreeUpload.swift, TreeDownload.swift, SyncTrees.swift: pipelined, no symlink followed on
// either side, each failed entry reported and the rest copied); here, what they report
// becomes stderr lines (escaped on a terminal: names come from the target), the progress on
// a terminal, and the exit status: 23 when some entries failed, as rsync's.

/// The exit status of a tree copy that did all it could, and not everything (rsync's 23).
let partialTransfer: Int32 = 23

/// How tunnel shows a tree transfer: each failed or skipped entry named on stderr as it
/// happens, the progress on a terminal.
func treeReport(_ progress: TreeProgress, itemize: ((SyncChange) -> Void)? = nil) -> TreeReport {
    TreeReport(itemize: itemize,
               entryFailed: { error in writeError("tunnel: \(displayedMessage(treeMessage(error)))\n") },
               skipped: { path in writeError("tunnel: skipping \(displayedMessage(path)): not a file, folder or symlink\n") },
               progress: progress.update)
}

private func treeMessage(_ error: Error) -> String {
    (error as? TunnelError)?.description ?? (error as? TreeError)?.description ?? "\(error)"
}

/// Runs a tree transfer (`body` returns how many entries failed) and turns its end into
/// tunnel's: an agent's error as any request's, a TreeError named (exit 255; 1 for a DEST
/// that is not a folder), and 23 when some entries failed.
func runTree(_ body: () throws -> Int) throws {
    let failures: Int
    do {
        failures = try body()
    } catch let error as TunnelError {
        throw report(error)
    } catch let error as TreeError {
        writeError("tunnel: \(displayedMessage(error.description))\n")
        throw ExitCode(error.kind == .notAFolder ? 1 : error.kind == .usage ? 2 : ownFailure)
    }
    guard failures == 0 else {
        writeError("tunnel: \(failures) \(failures == 1 ? "entry was" : "entries were") not copied (see above)\n")
        throw ExitCode(partialTransfer)
    }
}

/// upload -r (TunnelConnection.uploadTree), from the shell.
func uploadTree(_ source: LocalPath, into root: [UInt8], as name: [UInt8], modes: UploadModes,
                on agent: TunnelConnection, quiet: Bool = false) throws {
    let progress = TreeProgress(quiet: quiet)
    defer { progress.finish() }
    try runTree { try agent.uploadTree(source, into: root, as: name, modes: modes, report: treeReport(progress)) }
}

/// download -r (TunnelConnection.downloadTree), from the shell.
func downloadTree(_ source: [UInt8], to destination: LocalPath, options: DownloadOptions, quiet: Bool,
                  on agent: TunnelConnection) throws {
    let progress = TreeProgress(quiet: quiet)
    defer { progress.finish() }
    try runTree { try agent.downloadTree(source, to: destination, options: options, report: treeReport(progress)) }
}

/// Files and bytes done so far, on stderr when it is a terminal (never into a log or a
/// pipe) and not `--quiet`, at most ten times a second; as the single-file `Progress`.
final class TreeProgress {
    private let enabled: Bool
    private var done = SyncProgress()
    private var lastShown = 0.0

    init(quiet: Bool) { enabled = !quiet && isatty(2) == 1 }

    func update(_ progress: SyncProgress) {
        done = progress
        show()
    }

    func finish() {
        guard enabled, done.filesDone > 0 || done.bytesDone > 0 else { return }
        show(force: true)
        writeError("\n")
    }

    private func show(force: Bool = false) {
        guard enabled else { return }
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let now = Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        guard force || now - lastShown >= 0.1 else { return }
        lastShown = now
        let files = done.filesDone
        let tenths = done.bytesDone * 10 / 1_000_000
        writeError("\r  \(files) file\(files == 1 ? "" : "s"), \(tenths / 10).\(tenths % 10) MB   ")
    }
}

// What a tree transfer (upload -r, download -r, sync) tells its caller as it goes: each
// change, each entry that failed or was skipped, and the progress. The transfer itself
// never prints: `tunnel` turns these into its stderr lines and exit status 23.

/// One change, in rsync's `--itemize-changes` form.
public struct SyncChange: Equatable {
    /// rsync's 11-character code, e.g. `<f.st......`, `cd+++++++++`, `*deleting  `.
    public var code: String
    /// The path below the destination (a pull's folder mode: below DEST, the folder's name first).
    public var path: [UInt8]
    public var isFolder: Bool
    /// A symlink's target.
    public var linkTarget: [UInt8]?

    public init(code: String, path: [UInt8], isFolder: Bool = false, linkTarget: [UInt8]? = nil) {
        self.code = code
        self.path = path
        self.isFolder = isFolder
        self.linkTarget = linkTarget
    }
}

/// Files and bytes done, and to do. A tree is walked as it is copied, never listed whole
/// first, so what is to do grows as folders are reached: it counts what has been found to
/// need sending so far (done included). A file is done once it is copied or has failed
/// (and was reported).
public struct SyncProgress: Equatable {
    public var filesDone = 0
    public var bytesDone: UInt64 = 0
    public var filesToDo = 0
    public var bytesToDo: UInt64 = 0

    public init() {}
}

/// How a tree transfer reports, besides its result. Every closure runs on the caller's
/// thread, between requests.
public struct TreeReport {
    /// Each change, in rsync's itemize form (sync; nil: none asked).
    public var itemize: ((SyncChange) -> Void)?
    /// An entry that failed (a `TunnelError` or a `TreeError`); the rest goes on, and the
    /// result counts it.
    public var entryFailed: (Error) -> Void
    /// An entry that is not a file, folder or symlink (a device, a fifo, a socket): its
    /// path, left out.
    public var skipped: (String) -> Void
    /// Files and bytes, after each change of them.
    public var progress: ((SyncProgress) -> Void)?

    public init(itemize: ((SyncChange) -> Void)? = nil, entryFailed: @escaping (Error) -> Void = { _ in },
                skipped: @escaping (String) -> Void = { _ in }, progress: ((SyncProgress) -> Void)? = nil) {
        self.itemize = itemize
        self.entryFailed = entryFailed
        self.skipped = skipped
        self.progress = progress
    }
}

/// Folders deeper than this are refused, whatever the target lists: a copy's recursion
/// and its open folders stay bounded. Deeper than any path the kernel takes (PATH_MAX).
public let deepestTree = 2048

/// Each failed entry is reported as it happens, and the copy goes on, as scp and rsync
/// do; the caller hears how many failed. A broken connection ends the copy at once:
/// nothing more can be asked.
final class TreeOutcome {
    let agent: TunnelConnection
    let report: TreeReport
    private(set) var failures = 0
    private var counts = SyncProgress()

    init(_ agent: TunnelConnection, _ report: TreeReport) {
        self.agent = agent
        self.report = report
    }

    /// Runs `body` for one entry; its failure is reported and counted, unless the
    /// connection is gone (then it ends the copy) or the whole copy ends (`tooDeep`).
    func entry(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as TunnelError {
            guard agent.isUsable else { throw error }
            failed(error)
        } catch let error as TreeError where error.kind != .tooDeep {
            guard agent.isUsable else { throw error }
            failed(error)
        }
    }

    func failed(_ error: Error) {
        failures += 1
        report.entryFailed(error)
    }

    /// A file found to need sending, of `bytes`.
    func toDo(bytes: UInt64) {
        counts.filesToDo += 1
        counts.bytesToDo += bytes
        report.progress?(counts)
    }

    func add(bytes: UInt64) {
        counts.bytesDone += bytes
        report.progress?(counts)
    }

    func fileDone() {
        counts.filesDone += 1
        report.progress?(counts)
    }
}

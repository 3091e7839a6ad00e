import TunnelWire

/// ListDir → DirEntries…, MakeDir → Ok, Remove → Ok (extensions, see docs/protocol.md).
/// Paths are bytes; a failure is the originals' OSError naming the path.
enum ListDirHandler: RequestHandler {
    static func answer(_ request: ListDir, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        do throws(Errno) {
            // As `ls` does: a symlink to a directory lists the directory.
            let directory = try FileDescriptor.openDirectoryForListing(path)
            return .directoryListing(DirectoryListing(directory, withStatus: request.withStatus, in: context))
        } catch {
            throw .osError(error, path: path.text)
        }
    }
}

/// What the session lends to its listing (one at a time, SessionContext.listingStorage):
/// the buffer its folder is read into, and the page of entries being answered, which keeps
/// its capacity from one page and one folder to the next (no allocation as it grows).
final class ListingStorage {
    let directory = DirectoryBuffer()
    var page: [DirEntry] = []
}

/// A directory being answered: its entries are read as the chunks are written, so a huge
/// folder never sits in memory whole.
final class DirectoryListing {
    private let directory: FileDescriptor
    private let withStatus: Bool
    private let names: AccountNames
    private let storage: ListingStorage
    private static let chunkSize = 512

    init(_ directory: consuming FileDescriptor, withStatus: Bool, in context: SessionContext) {
        self.directory = directory
        self.withStatus = withStatus
        names = context.accountNames
        storage = context.listingStorage()
    }

    private var stream: DirectoryStream?
    private var opened = false
    private var ended = false

    /// The next DirEntries packet, the last one marked; nil after it. The session sends
    /// each as it comes. A read error mid-way (EIO) ends the listing early: the answer has
    /// begun and cannot become an OSError any more.
    func nextPage() -> DirEntries? {
        guard !ended else { return nil }
        if !opened {
            opened = true
            stream = try? DirectoryStream(directory, buffer: storage.directory)
        }
        guard let stream else {
            ended = true
            return DirEntries(entries: [], last: true)
        }
        // The previous page was sent and let go of: its array is reused in place.
        storage.page.removeAll(keepingCapacity: true)
        while storage.page.count < Self.chunkSize {
            // try? flattens: nil at the end, and on a read error.
            guard let next = try? stream.next() else {
                ended = true
                return DirEntries(entries: storage.page, last: true)
            }
            storage.page.append(entry(next.name, kind: next.kind))
        }
        return DirEntries(entries: storage.page, last: false)
    }

    private func entry(_ name: SystemPath, kind: FileKind?) -> DirEntry {
        guard withStatus || kind == nil else { return DirEntry(name: name.bytes, type: kind!.name) }
        guard let status = try? directory.status(of: name, followingLinks: false) else {
            // Vanished meanwhile.
            return DirEntry(name: name.bytes, type: (kind ?? .other).name)
        }
        let result = withStatus ? StatResult(type: status.kind.name, mode: UInt64(status.permissions),
                                             owner: names.user(status.uid), group: names.group(status.gid),
                                             size: status.size, mtime: status.modificationTime,
                                             ctime: status.changeTime, sha512sum: nil) : nil
        return DirEntry(name: name.bytes, type: status.kind.name, status: result)
    }
}

enum MakeDirHandler: RequestHandler {
    static func answer(_ request: MakeDir, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        let mode = try request.mode.map(modeField) ?? 0o755
        do throws(Errno) {
            try makeDirectory(path, mode: mode, parents: request.parents)
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

enum RemoveHandler: RequestHandler {
    static func answer(_ request: Remove, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        let (parent, name) = path.split()
        // The entry an error is about: below the path when removeTree gets that far.
        var failing = path
        do throws(Errno) {
            // "/", "dir/", "." and "..": no name of their own to remove (rm refuses them too).
            guard !name.isEmpty, !name.isDotOrDotDot else { throw Errno.invalidArgument }
            try removeEntry(name, in: try FileDescriptor.openDirectory(parent), recursive: request.recursive,
                            failing: &failing)
        } catch {
            throw .osError(error, path: failing.text)
        }
        return .ok
    }
}

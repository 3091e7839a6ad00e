import TunnelHash
import TunnelWire

/// Rename, SetMetadata, Symlink → Ok; ReadLink → LinkTarget; StatPath → StatResult
/// (extensions, see docs/protocol.md). Each works on its final component through the
/// directory's descriptor; a failure is the originals' OSError naming the path.
enum RenameHandler: RequestHandler {
    static func answer(_ request: Rename, in context: SessionContext) throws(Refusal) -> Answer {
        let source = try systemPath(bytes: request.source, field: "source")
        let target = try systemPath(bytes: request.target, field: "target")
        do throws(Errno) {
            let from = source.split()
            let to = target.split()
            let fromDirectory = try FileDescriptor.openDirectory(from.directory)
            let toDirectory = try FileDescriptor.openDirectory(to.directory)
            try fromDirectory.rename(from.name, to: to.name, in: toDirectory, replacing: !request.noReplace)
        } catch {
            throw .osError(error, path: source.text)
        }
        return .ok
    }
}

enum SetMetadataHandler: RequestHandler {
    static func answer(_ request: SetMetadata, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        let change = try MetadataChange(mode: request.mode, owner: request.owner, group: request.group,
                                        mtime: request.mtime)
        do throws(Errno) {
            var (parent, name) = path.split()
            if name.isDotOrDotDot {
                // A final ".." taken relative to the folder's descriptor would be the folder
                // that holds --root's directory: the kernel resolves the whole path instead.
                (parent, name) = (path, SystemPath.currentDirectory)
            }
            let directory = try FileDescriptor.openDirectory(parent)
            try change.apply(to: name.isEmpty ? SystemPath.currentDirectory : name, in: directory,
                             followingLinks: request.followLinks)
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

/// What SetMetadata and SetMetadataBeneath change, parsed and resolved (as Upload's fields)
/// before anything changes, so that a bad field changes nothing.
struct MetadataChange {
    let mode: UInt32?
    let uid: UInt32?
    let gid: UInt32?
    let mtime: Int64?

    init(mode: String?, owner: String?, group: String?, mtime: Int64?) throws(Refusal) {
        self.mode = try mode.map(modeField)
        // An extension: plain numeric ids need no entry (as chown(1) takes them).
        uid = try owner.map { (owner) throws(Refusal) in try resolveUserField(owner, field: "owner", bareIDs: true).uid }
        gid = try group.map { (group) throws(Refusal) in try resolveGroupField(group, bareIDs: true).gid }
        self.mtime = mtime
    }

    /// Applies the change to `name` in `directory`.
    func apply(to name: SystemPath, in directory: borrowing FileDescriptor, followingLinks follow: Bool) throws(Errno) {
        // Owner first: chown clears the set-id bits that the mode may set.
        if uid != nil || gid != nil { try directory.setOwner(of: name, uid: uid, gid: gid, followingLinks: follow) }
        if let mode { try directory.setPermissions(of: name, mode, followingLinks: follow) }
        if let mtime { try directory.setModificationTime(of: name, mtime, followingLinks: follow) }
    }
}

enum SymlinkHandler: RequestHandler {
    static func answer(_ request: Symlink, in context: SessionContext) throws(Refusal) -> Answer {
        let target = try systemPath(bytes: request.target, field: "target")
        let path = try systemPath(bytes: request.path, field: "path")
        do throws(Errno) {
            let (parent, name) = path.split()
            try FileDescriptor.openDirectory(parent).makeSymlink(name, to: target)
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

enum ReadLinkHandler: RequestHandler {
    static func answer(_ request: ReadLink, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        do throws(Errno) {
            let (parent, name) = path.split()
            return .linkTarget(LinkTarget(target: try FileDescriptor.openDirectory(parent).linkTarget(name)))
        } catch {
            throw .osError(error, path: path.text)
        }
    }
}

enum StatPathHandler: RequestHandler {
    static func answer(_ request: StatPath, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(bytes: request.path, field: "path")
        do throws(Errno) {
            let status = try path.status(followingLinks: request.followLinks)
            return .statResult(try StatHandler.result(of: path, status: status, followingLinks: request.followLinks,
                                                      sha512: request.sha512sum, names: context.accountNames))
        } catch {
            throw .osError(error, path: path.text)
        }
    }
}

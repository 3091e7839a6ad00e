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
        // Parsed and resolved as Upload's, all before anything changes.
        let mode = try request.mode.map(modeField)
        // An extension: plain numeric ids need no entry (as chown(1) takes them).
        let uid = try request.owner.map { (owner) throws(Refusal) in
            try resolveUserField(owner, field: "owner", bareIDs: true).uid
        }
        let gid = try request.group.map { (group) throws(Refusal) in try resolveGroupField(group, bareIDs: true).gid }
        do throws(Errno) {
            var (parent, name) = path.split()
            if name.isDotOrDotDot {
                // A final ".." taken relative to the folder's descriptor would be the folder
                // that holds --root's directory: the kernel resolves the whole path instead.
                (parent, name) = (path, SystemPath.currentDirectory)
            }
            let directory = try FileDescriptor.openDirectory(parent)
            let target = name.isEmpty ? SystemPath.currentDirectory : name
            let follow = request.followLinks
            // Owner first: chown clears the set-id bits that the mode may set.
            if uid != nil || gid != nil { try directory.setOwner(of: target, uid: uid, gid: gid, followingLinks: follow) }
            if let mode { try directory.setPermissions(of: target, mode, followingLinks: follow) }
            if let mtime = request.mtime { try directory.setModificationTime(of: target, mtime, followingLinks: follow) }
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
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

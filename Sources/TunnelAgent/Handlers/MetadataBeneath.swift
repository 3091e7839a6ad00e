import CPosix
import TunnelWire

/// SetMetadataBeneath → Ok: SetMetadata's change (MetadataChange) on the entry at a path
/// below a root, reached as the other `*Beneath` requests reach it (System/Beneath.swift),
/// and never followed if it is a symlink. What `tunnel chmod -R`, `chown -R`, `sync` and
/// `upload -r -p` use, so a folder of the tree swapped for a symlink after the listing
/// fails the change (ENOTDIR, or EOPNOTSUPP for a mode) instead of leading it outside the
/// tree. An empty path is the root itself, a folder reached without any symlink (as
/// ReadBeneath's root): what sync gives SRC's mode and mtime at the end.
enum SetMetadataBeneathHandler: RequestHandler {
    static func answer(_ request: SetMetadataBeneath, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: true)
        let change = try MetadataChange(mode: request.mode, owner: request.owner, group: request.group,
                                        mtime: request.mtime)
        do throws(Errno) {
            if let name = path.components.last {
                try change.apply(to: name, in: try path.openParent(), followingLinks: false)
            } else {
                // "." of the root's own descriptor: the folder itself, never a name in it.
                try change.apply(to: SystemPath.currentDirectory, in: try path.openRoot(TP_O_PATH | TP_O_DIRECTORY),
                                 followingLinks: false)
            }
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

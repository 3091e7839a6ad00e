import TunnelWire

/// SetMetadataBeneath → Ok: SetMetadata's change (MetadataChange) on the entry at a path
/// below a root, reached as the other `*Beneath` requests reach it (System/Beneath.swift),
/// and never followed if it is a symlink. What `tunnel chmod -R` and `chown -R` use, so a
/// folder of the tree swapped for a symlink after the listing fails the change (ENOTDIR,
/// or EOPNOTSUPP for a mode) instead of leading it outside the tree.
enum SetMetadataBeneathHandler: RequestHandler {
    static func answer(_ request: SetMetadataBeneath, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: false)
        let change = try MetadataChange(mode: request.mode, owner: request.owner, group: request.group,
                                        mtime: request.mtime)
        do throws(Errno) {
            try change.apply(to: path.components.last!, in: try path.openParent(), followingLinks: false)
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

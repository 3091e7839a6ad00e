import TunnelWire

/// RemoveBeneath → Ok: Remove's removal of the entry at a path below a root, reached as the
/// other `*Beneath` requests reach it (System/Beneath.swift). Its folder is opened without
/// following any symlink below the root, and the entry itself is never followed (a symlink
/// is removed, not its target); `recursive` empties a folder with `removeTree`, which opens
/// every level O_NOFOLLOW. What `tunnel sync` removes with, so that a folder swapped for a
/// symlink after the listing fails the removal (ENOTDIR) instead of leading it elsewhere.
enum RemoveBeneathHandler: RequestHandler {
    static func answer(_ request: RemoveBeneath, in context: SessionContext) throws(Refusal) -> Answer {
        // Not the root itself: Remove of its own path is the way to remove what a user named.
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: false)
        let name = path.components.last!
        // The entry an error is about: below the path when removeTree gets that far.
        var failing = path.joined
        do throws(Errno) {
            try removeEntry(name, in: try path.openParent(), recursive: request.recursive, failing: &failing)
        } catch {
            throw .osError(error, path: failing.text)
        }
        return .ok
    }
}

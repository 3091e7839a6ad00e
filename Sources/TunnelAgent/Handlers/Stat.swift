import TunnelHash
import TunnelWire

/// Stat → StatResult: `lstat` (or `stat` when following links), names for the owner and
/// group, and the SHA-512 of a regular file's content, computed streaming.
enum StatHandler: RequestHandler {
    static func answer(_ request: Stat, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(request.path, field: "path")
        let status: FileStatus
        do throws(Errno) {
            status = try path.status(followingLinks: request.followLinks)
        } catch {
            throw .missingOrOSError(error, path: request.path, field: "path")
        }
        do throws(Errno) {
            return .statResult(try result(of: path, status: status, followingLinks: request.followLinks,
                                          sha512: request.sha512sum, names: context.accountNames))
        } catch {
            throw .osError(error, path: request.path)
        }
    }

    /// The StatResult of `path`, whose `status` was just read (StatPath's answer too).
    static func result(of path: SystemPath, status: FileStatus, followingLinks: Bool, sha512: Bool,
                       names: AccountNames) throws(Errno) -> StatResult {
        var status = status
        var digest: [UInt8]? = nil
        if sha512 && status.kind == .regular {
            // Hash what was opened and report its status, so that both describe one file
            // even if the name is replaced in between.
            let file = try FileDescriptor.openForReading(path, followingLinks: followingLinks)
            status = try file.status()
            if status.kind == .regular { digest = try sha512Digest(of: file) }
        }
        return StatResult(type: status.kind.name, mode: UInt64(status.permissions), owner: names.user(status.uid),
                          group: names.group(status.gid), size: status.size, mtime: status.modificationTime,
                          ctime: status.changeTime, sha512sum: digest)
    }

    private static func sha512Digest(of file: borrowing FileDescriptor) throws(Errno) -> [UInt8] {
        var hasher = SHA512()
        try file.forEachChunk { chunk in
            hasher.update(chunk)
            return true
        }
        return hasher.finalize()
    }
}

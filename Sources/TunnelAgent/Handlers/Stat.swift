import TunnelHash
import TunnelWire

/// Stat → StatResult: `lstat` (or `stat` when following links), names for the owner and
/// group, and the SHA-512 of a regular file's content, computed streaming.
enum StatHandler: RequestHandler {
    static func answer(_ request: Stat, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try systemPath(request.path, field: "path")
        var status: FileStatus
        do throws(Errno) {
            status = try path.status(followingLinks: request.followLinks)
        } catch {
            throw .missingOrOSError(error, path: request.path, field: "path")
        }
        var digest: [UInt8]? = nil
        if request.sha512sum && status.kind == .regular {
            do throws(Errno) {
                // Hash what was opened and report its status, so that both describe one file
                // even if the name is replaced in between.
                let file = try FileDescriptor.openForReading(path, followingLinks: request.followLinks)
                status = try file.status()
                if status.kind == .regular { digest = try sha512(of: file) }
            } catch {
                throw .osError(error, path: request.path)
            }
        }
        return .statResult(StatResult(type: status.kind.name,
                                      mode: UInt64(status.permissions),
                                      owner: context.accountNames.user(status.uid),
                                      group: context.accountNames.group(status.gid),
                                      size: status.size,
                                      mtime: status.modificationTime,
                                      ctime: status.changeTime,
                                      sha512sum: digest))
    }

    private static func sha512(of file: borrowing FileDescriptor) throws(Errno) -> [UInt8] {
        var hasher = SHA512()
        try file.forEachChunk { chunk in
            hasher.update(chunk)
            return true
        }
        return hasher.finalize()
    }
}

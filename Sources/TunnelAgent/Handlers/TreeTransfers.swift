import CPosix
import TunnelWire

/// UploadBeneath → Ok, ReadBeneath → DirEntries… / DownloadResult / LinkTarget, and
/// CreateBeneath → Ok: what `tunnel upload -r` and `download -r` copy trees with (see
/// BeneathPackets.swift and System/Beneath.swift). They reuse Upload's FileReplacement,
/// Download's content and ListDir's listing; what they add is the resolution of the path.

/// The request's path, or the InvalidField of a component that is not a single name.
func beneathPath(root: [UInt8], path: [UInt8], allowingEmpty: Bool) throws(Refusal) -> BeneathPath {
    let rootPath = try systemPath(bytes: root, field: "root")
    guard let resolved = BeneathPath(root: rootPath, relative: path), allowingEmpty || !resolved.components.isEmpty else {
        throw .invalidField("path", "must be names separated by '/', none empty, '.' or '..'")
    }
    return resolved
}

enum CreateBeneathHandler: RequestHandler {
    static func answer(_ request: CreateBeneath, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: false)
        let mode = try request.mode.map(modeField) ?? 0o755
        let linkTarget = try request.linkTarget.map { (target) throws(Refusal) in
            try systemPath(bytes: target, field: "linkTarget")
        }
        let name = path.components.last!
        do throws(Errno) {
            let parent = try path.openParent()
            if let linkTarget {
                do throws(Errno) {
                    try parent.makeSymlink(name, to: linkTarget)
                } catch where error == .exists {
                    try replaceWithSymlink(name, to: linkTarget, in: parent)
                }
                return .ok
            }
            do throws(Errno) {
                try parent.makeDirectory(name, mode: 0o700)
            } catch where error == .exists {
                // An existing folder is fine; a symlink (to a folder or not) is never entered.
                guard try parent.status(of: name, followingLinks: false).kind == .directory else { throw error }
                return .ok
            }
            // The exact mode through a descriptor (mkdir's own is masked by the umask).
            let made = try parent.open(name, O_RDONLY | TP_O_DIRECTORY | TP_O_NOFOLLOW | O_NONBLOCK)
            try made.setPermissions(mode)
        } catch {
            throw .osError(error, path: path.text)
        }
        return .ok
    }
}

/// As rsync: a symlink or file already at `name` is replaced by the new symlink, at once (it
/// is made under a random name, then renamed over the old entry: the name is never missing,
/// and a failure leaves the old entry). A folder there is never replaced (EEXIST), nor one
/// that appears meanwhile (rename's EISDIR). A random name someone took first is EEXIST
/// too: symlinkat never follows or replaces what is there.
private func replaceWithSymlink(_ name: SystemPath, to target: SystemPath,
                                in parent: borrowing FileDescriptor) throws(Errno) {
    guard try parent.status(of: name, followingLinks: false).kind != .directory else { throw Errno.exists }
    let temporary = TemporaryNames.next()
    try parent.makeSymlink(temporary, to: target)
    do throws(Errno) {
        try parent.rename(temporary, to: name)
    } catch {
        try? parent.removeFile(temporary)
        throw error
    }
}

enum ReadBeneathHandler: RequestHandler {
    static func answer(_ request: ReadBeneath, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: true)
        do throws(Errno) {
            guard let name = path.components.last else {
                // The root itself (a file or a folder), never through a symlink.
                return try answer(reading: try path.openRoot(O_RDONLY | O_NOCTTY | O_NONBLOCK), request, context)
            }
            let parent = try path.openParent()
            switch try parent.status(of: name, followingLinks: false).kind {
            case .symlink:
                return .linkTarget(LinkTarget(target: try parent.linkTarget(name)))
            case .directory, .regular:
                // O_NOFOLLOW: a symlink swapped in since the fstatat is ELOOP, not followed.
                let file = try parent.open(name, O_RDONLY | O_NOCTTY | O_NONBLOCK | TP_O_NOFOLLOW)
                return try answer(reading: file, request, context)
            default:
                // Devices, fifos, sockets: opening them could block or act; never read.
                throw Errno.invalidArgument
            }
        } catch {
            throw .osError(error, path: path.text)
        }
    }

    /// A folder's listing or a regular file's content; anything else (a kind swapped in
    /// since the fstatat) is EINVAL.
    private static func answer(reading file: consuming FileDescriptor, _ request: ReadBeneath,
                               _ context: SessionContext) throws(Errno) -> Answer {
        let status = try file.status()
        switch status.kind {
        case .directory:
            return .directoryListing(DirectoryListing(file, withStatus: request.withStatus, in: context))
        case .regular:
            do throws(Refusal) {
                return try DownloadHandler.content(of: file, status: status, in: context)
            } catch {
                if case .osError(let errno, _) = error { throw errno }
                throw Errno(EIO)
            }
        default:
            throw Errno.invalidArgument
        }
    }
}

enum UploadBeneathHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> UploadBeneath<FileReplacement> {
        try UploadBeneath<FileReplacement>.decodeFields(from: &input) { (input, root, path, length) throws(WireError) in
            var replacement = prepare(root: root, path: path)
            if context.pendingUploads.contains(targetOf: replacement) {
                // As Upload: the earlier upload of the same file must be in place first.
                context.pendingUploads.complete()
                replacement = prepare(root: root, path: path)
            }
            try input.streamPayload(length: length) { replacement.append($0) }
            return replacement
        }
    }

    /// The replacement of the file the path names, prepared as soon as the path has arrived.
    private static func prepare(root: [UInt8], path: [UInt8]) -> FileReplacement {
        guard let rootPath = SystemPath(bytes: root), let resolved = BeneathPath(root: rootPath, relative: path),
              let name = resolved.components.last else {
            // `answer` refuses the fields; nothing is made meanwhile.
            return FileReplacement(failure: UploadFailure(.invalidArgument, namesFile: false))
        }
        do throws(Errno) {
            return FileReplacement(name: name, in: try resolved.openParent())
        } catch {
            return FileReplacement(failure: UploadFailure(error, namesFile: true))
        }
    }

    static func answer(_ request: UploadBeneath<FileReplacement>, in context: SessionContext) throws(Refusal) -> Answer {
        let path = try beneathPath(root: request.root, path: request.path, allowingEmpty: false)
        var metadata = try UploadHandler.requestedMetadata(mode: request.mode, owner: request.owner, group: request.group,
                                                           bareIDs: true)
        let newFileMode = try request.newFileMode.map(modeField)
        if metadata.mode == nil && !request.content.replacesExisting { metadata.mode = newFileMode }
        return try UploadHandler.commit(request.content, metadata, file: path.text, in: context)
    }
}

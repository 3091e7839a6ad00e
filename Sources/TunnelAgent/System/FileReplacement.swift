import CPosix

/// Puts an upload's content at its target so that the target's name shows either the old
/// file or the complete new one, never a mix; a failed or interrupted upload leaves the old
/// file and nothing else. Run as root on directories that other users own, it must never be
/// easier to trick than the reference's plain `open()`, so it works on descriptors only:
///
/// 1. The target's directory is opened once; every later step is relative to it.
/// 2. An existing target is opened for writing by the kernel's own `open(O_CREAT)`, so that
///    permissions, protected_symlinks and protected_regular apply exactly as they do to the
///    reference. Through a symlink, the directory the kernel arrived in is found from that
///    descriptor and checked to hold this very file.
/// 3. The content goes into an unnamed file (O_TMPFILE) in that directory, created with the
///    mode `open(O_CREAT, 0666)` would give (umask, default ACLs). Where no unnamed file can
///    be made it has a short random name, removed on failure and on fatal signals.
/// 4. At commit the old file's owner, extended attributes (ACLs among them) and mode are
///    carried over and the requested metadata applied (and, when durable, the data synced);
///    the name is checked to still be the file that was opened, and the new file renamed
///    over it.
///
/// The reference writes in place; so does this, after validation, where a replacement
/// cannot be made or would lose something: devices and fifos, files whose owner a new
/// inode could not keep (not root), extended attributes that cannot be set on a new file,
/// bind-mounted targets (rename fails with EBUSY), and directories where no temporary can
/// be created (procfs, sysfs, no write permission). A disk that cannot hold the old and the
/// new file at once fails with ENOSPC and keeps the old file: atomicity over success.
final class FileReplacement {
    private var state: State

    private enum State {
        /// Nothing more is written; this is the answer. The rest of the content is dropped.
        case failed(UploadFailure)
        /// The content goes into a new file that replaces the target at commit.
        case replacing(Replacement)
        /// The content waits in a spool, to be written into the target at commit.
        case inPlace(InPlaceWrite)
    }

    init(target: String) {
        do throws(UploadFailure) {
            state = try FileReplacement.prepare(target)
        } catch {
            state = .failed(error)
        }
    }

    /// `name` in `directory` (UploadBeneath): a symlink there is replaced, never followed.
    init(name: SystemPath, in directory: consuming FileDescriptor) {
        do throws(Errno) {
            state = try FileReplacement.prepare(name, in: directory, followingFinalLink: false)
        } catch {
            state = .failed(UploadFailure(error, namesFile: true))
        }
    }

    /// A failure known before any content arrived (UploadBeneath's path could not be resolved).
    init(failure: UploadFailure) { state = .failed(failure) }

    /// Whether a file of that name exists already (then it keeps its mode unless one is asked for).
    var replacesExisting: Bool {
        switch state {
        case .failed: return false
        case .replacing(let replacement): return replacement.existing != nil
        case .inPlace: return true
        }
    }

    /// Takes the next piece of content.
    func append(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .failed:
            return
        case .replacing(let replacement):
            do throws(Errno) {
                try replacement.temporary.file.writeAll(bytes)
            } catch {
                state = .failed(UploadFailure(error, namesFile: false))
            }
        case .inPlace(let write):
            if !write.spool.append(bytes) {
                state = .failed(UploadFailure(write.spool.failure ?? Errno(EIO), namesFile: false))
            }
        }
    }

    /// Applies metadata and puts the content in place, in one go (see `Durability`).
    /// Without a call (an invalid field, a lost client) everything made for the upload is
    /// removed when it is released.
    func commit(_ metadata: RequestedMetadata, durability: Durability) throws(UploadFailure) {
        guard try prepare(metadata, durability: durability) else { return }
        if durability == .synced {
            try synchronizeData()
            try publish()
            try synchronizeDirectory()
        } else {
            try publish()
        }
    }

    // The steps of `commit`, for uploads synced as a group (Session/PendingUploads.swift):
    // prepare each, start their writeback, sync them all, then publish them in order.

    /// Carries the old file's metadata over and applies the requested one. True when the
    /// content still has to be published; false when it was written in place, which is then
    /// complete (synced too, when `durability` asks for it).
    func prepare(_ metadata: RequestedMetadata, durability: Durability) throws(UploadFailure) -> Bool {
        switch state {
        case .failed(let failure): throw failure
        case .replacing(let replacement): return try replacement.prepare(metadata, durability: durability)
        case .inPlace(let write):
            try write.commit(metadata, durability: durability)
            return false
        }
    }

    /// Starts writing the new content to disk without waiting (`sync_file_range`), so that
    /// the later syncs of a group overlap.
    func startWriteback() {
        if case .replacing(let replacement) = state { replacement.temporary.file.startWriteback() }
    }

    /// `fsync` of the new content.
    func synchronizeData() throws(UploadFailure) {
        guard case .replacing(let replacement) = state else { return }
        do throws(Errno) { try replacement.temporary.file.synchronize() } catch { throw UploadFailure(error, namesFile: false) }
    }

    /// Gives the new content the target's name (or writes it in place: bind mounts).
    func publish() throws(UploadFailure) {
        guard case .replacing(let replacement) = state else { return }
        try replacement.publish()
    }

    /// `fsync` of the directory, so that the new name itself survives a power cut.
    func synchronizeDirectory() throws(UploadFailure) {
        guard case .replacing(let replacement) = state else { return }
        try naming { () throws(Errno) in try replacement.directory.synchronizeDirectory() }
    }

    /// Whether both publish under the same name in the same directory.
    func sharesTarget(with other: FileReplacement) -> Bool {
        guard case .replacing(let mine) = state, case .replacing(let theirs) = other.state,
              mine.name == theirs.name else { return false }
        return sharesDirectory(with: other)
    }

    /// Whether both publish into the same directory.
    func sharesDirectory(with other: FileReplacement) -> Bool {
        guard case .replacing(let mine) = state, case .replacing(let theirs) = other.state,
              let a = try? mine.directory.status(), let b = try? theirs.directory.status() else { return false }
        return a.isSameFile(as: b)
    }

    // MARK: Opening the target

    private static func prepare(_ text: String) throws(UploadFailure) -> State {
        // The handler answers InvalidField for a NUL byte before this failure is seen.
        guard let path = SystemPath(text) else { throw UploadFailure(Errno(EINVAL), namesFile: true) }
        let (directoryPath, name) = path.split()
        guard !name.isEmpty, !name.isDotOrDotDot else {
            // "dir/", "a/..": only a directory can have such a name; let open(2) say why not.
            throw UploadFailure(openError(path), namesFile: true)
        }
        return try naming { () throws(Errno) in
            try prepare(name, in: try FileDescriptor.openDirectory(directoryPath), followingFinalLink: true)
        }
    }

    private static func prepare(_ name: SystemPath, in directory: consuming FileDescriptor,
                                followingFinalLink: Bool) throws(Errno) -> State {
        let entry: FileStatus
        do throws(Errno) {
            entry = try directory.status(of: name, followingLinks: false)
        } catch where error == .noEntry {
            return .replacing(try Replacement(newFileIn: directory, name: name))
        }
        if entry.kind == .symlink && !followingFinalLink {
            // The link itself is replaced: a new file renamed over it (Replacement.publish).
            return .replacing(try Replacement(newFileIn: directory, name: name))
        }
        return try replacingExisting(entry, in: directory, name: name)
    }

    private static func replacingExisting(_ entry: FileStatus, in directory: consuming FileDescriptor,
                                          name: SystemPath) throws(Errno) -> State {
        // A dangling link: the reference's open() creates the file it points to. Remember
        // doing so, to remove it again if the upload fails.
        var createsLinkTarget = false
        if entry.kind == .symlink {
            do throws(Errno) {
                _ = try directory.open(name, FileDescriptor.writingExisting)
            } catch where error == .noEntry {
                createsLinkTarget = true
            } catch {}
        }
        var writable = true
        let file: FileDescriptor
        do throws(Errno) {
            // O_CREAT: protected_regular only guards opens that could create.
            file = try directory.open(name, FileDescriptor.writingExisting | O_CREAT, mode: 0o666)
        } catch where error == Errno(ETXTBSY) {
            // A running program. ETXTBSY comes after every permission and link check has
            // passed; it cannot be written in place, but it can be replaced.
            file = try directory.open(name, O_RDONLY | O_NOCTTY | O_NONBLOCK)
            writable = false
        }
        let status = try file.status()
        let target = ExistingTarget(file: file, status: status, writable: writable,
                                    createdByUpload: createsLinkTarget)
        guard status.kind == .regular else {
            // Devices and fifos: written in place, blocking as the reference's writes are.
            try target.file.makeBlocking()
            return try inPlace(target)
        }
        if entry.kind != .symlink {
            // Replaced between the two calls: give up rather than guess.
            guard entry.isSameFile(as: status) else { throw Errno(EAGAIN) }
            return try replacing(target, in: directory, name: name)
        }
        // Through a symlink: find the directory the kernel arrived in, and check that it
        // holds this very file under that name.
        guard let real = target.file.currentPath() else { return try inPlace(target) }
        let (realDirectoryPath, realName) = real.split()
        do throws(Errno) {
            let realDirectory = try FileDescriptor.openDirectory(realDirectoryPath)
            guard try realDirectory.status(of: realName, followingLinks: false).isSameFile(as: status) else {
                return try inPlace(target)
            }
            return try replacing(target, in: realDirectory, name: realName)
        } catch {
            return try inPlace(target)
        }
    }

    private static func replacing(_ target: ExistingTarget, in directory: consuming FileDescriptor,
                                  name: SystemPath) throws(Errno) -> State {
        // Only root may give a file away: a new inode that could not keep the owner and group
        // is no replacement.
        guard canRecreateOwnership(of: target.status) else { return try inPlace(target) }
        let temporary: Temporary
        do throws(Errno) {
            temporary = try Temporary(in: directory)
        } catch {
            // procfs, sysfs, a directory we may not write to: no temporary fits here.
            return try inPlace(target)
        }
        return .replacing(Replacement(directory: directory, name: name, existing: target, temporary: temporary))
    }

    private static func inPlace(_ target: ExistingTarget) throws(Errno) -> State {
        guard target.writable else { throw Errno(ETXTBSY) }
        return .inPlace(InPlaceWrite(target: target))
    }

    /// The errno the kernel's own open gives for `path`; EISDIR if it would succeed.
    private static func openError(_ path: SystemPath) -> Errno {
        do throws(Errno) {
            _ = try PathJail.open(path, FileDescriptor.writingExisting)
            return .isDirectory
        } catch {
            return error
        }
    }
}

/// When an upload's content is on disk, relative to its Ok (docs/protocol.md, Durability).
enum Durability: Equatable {
    /// The default: the new file is renamed over the old one without an fsync first. After a
    /// power cut, ext4 (auto_da_alloc) and btrfs show the old or the new content of a
    /// replaced file; XFS may show an empty one, as the reference's truncate-and-write can
    /// everywhere. Never weaker than the reference, which never syncs.
    case renamed
    /// `--durable`: the content and the new name are synced before Ok. Consecutive uploads
    /// are synced as one group, never one fsync per file while they are pipelined.
    case synced
}

/// What an upload asks to be set on the file: each nil is left as it is.
struct RequestedMetadata {
    var mode: UInt32?
    var uid: UInt32?
    var gid: UInt32?

    /// chown, then chmod, as SetMetadata does: chown clears the set-id bits, so the
    /// reference's order (chmod first) silently drops a requested setuid or setgid bit; this
    /// way the file gets the mode asked for (a deviation, docs/protocol.md). `gid` without
    /// `uid` keeps the owner (the reference would make it root).
    func apply(to file: borrowing FileDescriptor) throws(UploadFailure) {
        try naming { () throws(Errno) in
            if uid != nil || gid != nil { try file.setOwner(uid: uid, gid: gid) }
            if let mode { try file.setPermissions(mode) }
        }
    }
}

/// An errno from an upload step, and whether Python's message would name the file
/// (open, chmod, chown do; write and fsync do not).
struct UploadFailure: Error {
    var errno: Errno
    var namesFile: Bool
    init(_ errno: Errno, namesFile: Bool) {
        self.errno = errno
        self.namesFile = namesFile
    }
}

/// Runs `body`, whose errors name the file.
private func naming<T>(_ body: () throws(Errno) -> T) throws(UploadFailure) -> T {
    do throws(Errno) { return try body() } catch { throw UploadFailure(error, namesFile: true) }
}

/// The target as the kernel opened it.
private final class ExistingTarget {
    let file: FileDescriptor
    let status: FileStatus
    /// False for a running program (ETXTBSY): it can only be replaced.
    let writable: Bool
    /// Opening it created it (through a dangling link): a failed upload removes it again.
    let createdByUpload: Bool

    init(file: consuming FileDescriptor, status: FileStatus, writable: Bool, createdByUpload: Bool) {
        self.file = file
        self.status = status
        self.writable = writable
        self.createdByUpload = createdByUpload
    }
}

/// The content in a new file beside the target.
private final class Replacement {
    let directory: FileDescriptor
    let name: SystemPath
    let existing: ExistingTarget?
    let temporary: Temporary
    private var committed = false

    init(directory: consuming FileDescriptor, name: SystemPath, existing: ExistingTarget?,
         temporary: Temporary) {
        self.directory = directory
        self.name = name
        self.existing = existing
        self.temporary = temporary
    }

    /// A file that does not exist yet: created in `directory` when committed.
    convenience init(newFileIn directory: consuming FileDescriptor, name: SystemPath) throws(Errno) {
        let temporary = try Temporary(in: directory)
        self.init(directory: directory, name: name, existing: nil, temporary: temporary)
    }

    deinit {
        temporary.remove(from: directory)
        // A dangling link's target that opening created (it is `name` in `directory`, found
        // through the link), while the upload then failed.
        if !committed, let existing, existing.createdByUpload,
           (try? directory.status(of: name, followingLinks: false))?.isSameFile(as: existing.status) == true {
            try? directory.removeFile(name)
        }
    }

    /// The requested metadata, kept for a fallback to writing in place at `publish`.
    private var metadata = RequestedMetadata()
    private var durability = Durability.renamed

    func prepare(_ metadata: RequestedMetadata, durability: Durability) throws(UploadFailure) -> Bool {
        self.metadata = metadata
        self.durability = durability
        if let existing {
            let carried = try naming { () throws(Errno) in
                // Owner first: chown clears set-id bits and capabilities, which what follows
                // restores.
                try temporary.file.setOwner(uid: existing.status.uid, gid: existing.status.gid)
                guard copyExtendedAttributes(from: existing.file, to: temporary.file) else { return false }
                // A requested mode replaces the old one anyway.
                if metadata.mode == nil { try temporary.file.setPermissions(existing.status.permissions) }
                return true
            }
            if !carried {
                try writeInPlace()
                return false
            }
        }
        try metadata.apply(to: temporary.file)
        return true
    }

    func publish() throws(UploadFailure) {
        try naming { () throws(Errno) in
            if let existing {
                // What is replaced must still be what was opened and checked.
                guard try directory.status(of: name, followingLinks: false).isSameFile(as: existing.status) else {
                    throw Errno(EAGAIN)
                }
            } else if try temporary.linkAsNew(in: directory, name: name) {
                committed = true
                return
            }
            let temporaryName = try temporary.name(in: directory)
            do throws(Errno) {
                try directory.rename(temporaryName, to: name)
                temporary.forgetName()
                committed = true
            } catch where existing != nil && (error == Errno(EBUSY) || error == Errno(EXDEV)) {
                // A bind-mounted target (Docker's /etc/hosts, Kubernetes subPath files).
                temporary.remove(from: directory)
            }
        }
        if !committed { try writeInPlace() }
    }

    /// The fallback at commit: the content, already in the temporary, copied into the target.
    private func writeInPlace() throws(UploadFailure) {
        guard let existing, existing.writable else { throw UploadFailure(Errno(ETXTBSY), namesFile: true) }
        let source = temporary
        try writeContent(into: existing.file, metadata, durability: durability) { (body) throws(Errno) in
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
            defer { chunk.deallocate() }
            var offset: UInt64 = 0
            while true {
                let got = try source.file.read(at: offset, into: chunk)
                if got == 0 { return }
                try body(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
                offset += UInt64(got)
            }
        }
        committed = true
    }
}

/// The content held until validation, then written into the target itself.
private final class InPlaceWrite {
    let target: ExistingTarget
    let spool = Spool()

    init(target: ExistingTarget) { self.target = target }

    func commit(_ metadata: RequestedMetadata, durability: Durability) throws(UploadFailure) {
        try writeContent(into: target.file, metadata, durability: durability) { (body) throws(Errno) in
            try spool.forEachChunk(body)
        }
    }
}

/// Truncates `target` (as the reference's O_TRUNC does), writes what `content` yields and
/// applies the metadata; syncs it when durable (regular files only: devices cannot).
private func writeContent(into target: borrowing FileDescriptor, _ metadata: RequestedMetadata, durability: Durability,
                          _ content: ((UnsafeRawBufferPointer) throws(Errno) -> Void) throws(Errno) -> Void) throws(UploadFailure) {
    do throws(Errno) {
        do throws(Errno) {
            try target.truncate(to: 0)
        } catch where error == Errno(EINVAL) || error == Errno(EPERM) {
            // Devices, fifos and pseudo-files ignore truncation, as they ignore O_TRUNC.
        }
        try content { (chunk) throws(Errno) in try target.writeAll(chunk) }
        if durability == .synced {
            let kind = try target.status().kind
            if kind == .regular { try target.synchronize() }
        }
    } catch {
        throw UploadFailure(error, namesFile: false)
    }
    try metadata.apply(to: target)
}

/// Copies every extended attribute (ACLs are some) of `source` onto `destination`; false
/// when one cannot be set there, so that the caller writes in place instead of losing it.
private func copyExtendedAttributes(from source: borrowing FileDescriptor, to destination: borrowing FileDescriptor) -> Bool {
    let names: [[UInt8]]
    do throws(Errno) {
        names = try source.extendedAttributeNames()
    } catch {
        // A filesystem without extended attributes has none to lose.
        return error == Errno(EOPNOTSUPP)
    }
    for name in names {
        do throws(Errno) {
            try destination.setExtendedAttribute(name, try source.extendedAttribute(name))
        } catch {
            return false
        }
    }
    return true
}

/// The agent's effective uid, which never changes: asked once, not per upload.
private let effectiveUserID = geteuid()

/// Whether a file we create can be given `status`'s owner and group: as root always; else
/// only when the owner is us and the group is one of ours.
private func canRecreateOwnership(of status: FileStatus) -> Bool {
    let uid = effectiveUserID
    if uid == 0 { return true }
    guard status.uid == uid else { return false }
    if status.gid == getegid() { return true }
    let size = getgroups(0, nil)
    guard size > 0 else { return false }
    var groups = [gid_t](repeating: 0, count: Int(size))
    let count = getgroups(size, &groups)
    return count > 0 && groups[0..<Int(count)].contains(status.gid)
}

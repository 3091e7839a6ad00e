import CPosix
import TunnelWire

// Upload: the content streams from the protocol into a temporary file created exclusively
// beside the target; only when every field has been read and validated is it given the
// target's metadata, fsynced and renamed over the target. Any failure, including the client
// vanishing mid-content, leaves the old file untouched and no temporary behind.

extension Session {
    func handleUpload() throws(WireError) {
        let decoded = try Upload<UploadSink>.decodeFields(from: &input) { (input, file, length) throws(WireError) in
            let sink = UploadSink(target: file)
            try input.streamPayload(length: length) { sink.append($0) }
            return sink
        }
        guard let request = finishDecoding(decoded, .upload) else { return }
        guard !request.file.utf8.contains(0) else { return sendInvalid("file", nulByteMessage) }
        let sink = request.content
        var mode: UInt32? = nil
        var uid: UInt32? = nil
        var gid: UInt32? = nil
        if let text = request.mode {
            guard case .value(let value) = PythonInt(parsing: text, octal: true),
                  value >= 0, value <= Int64(UInt32.max) else {
                return sendInvalid("mode", octalFormatMessage(text))
            }
            mode = UInt32(value)
        }
        if let owner = request.owner {
            guard let record = resolveUserField(owner, field: "owner") else { return }
            uid = record.uid
            gid = record.gid
        }
        if let group = request.group {
            guard let record = resolveGroupField(group) else { return }
            gid = record.gid
        }
        do throws(UploadFailure) {
            try sink.commit(mode: mode, uid: uid, gid: gid, creationMask: Session.fileCreationMask)
            send(Ok())
        } catch {
            sendOSError(error.errno, path: error.namesFile ? request.file : nil)
        }
    }

    /// The umask the agent set at start; new files get `0o666 & ~mask`, as with open(2).
    static let fileCreationMask: UInt32 = 0o077
}

/// An errno from an upload step, and whether Python's message would name the file
/// (open, chmod, chown do; write and fsync do not).
struct UploadFailure: Error {
    var errno: Errno
    var namesFile: Bool
}

/// Where an upload's content goes while it arrives.
final class UploadSink {
    let target: String
    /// The file that is really written: symlinks in the last component followed.
    private var resolvedTarget: String = ""
    private var temporary: TemporaryFile?
    /// Existing non-regular targets (devices, fifos), files whose ownership a new inode could
    /// not keep, and writable files in directories where no temporary can be created, are
    /// written in place like the reference does, but only after validation: until then the
    /// content waits here.
    private var inPlaceSpool: Spool?
    private var failure: UploadFailure?

    init(target: String) {
        self.target = target
        // A NUL byte cannot reach a C call; the handler answers InvalidField for it.
        guard !target.utf8.contains(0) else {
            failure = UploadFailure(errno: Errno(EINVAL), namesFile: true)
            return
        }
        do throws(Errno) {
            resolvedTarget = try followSymlinks(target)
            var info = stat()
            let exists = resolvedTarget.withCString { stat($0, &info) } == 0
            if exists && FileKind(mode: info.st_mode) == .directory {
                throw Errno(EISDIR)
            }
            // Devices and fifos, and files whose owner or group a new inode could not keep
            // (only root may give a file away), are written in place like the reference.
            if exists && (FileKind(mode: info.st_mode) != .regular || !canRecreateOwnership(of: info)) {
                inPlaceSpool = Spool()
                return
            }
            // The reference writes in place: a file it could not open for writing must not
            // be replaceable here just because its directory is writable.
            if exists && resolvedTarget.withCString({ access($0, W_OK) }) != 0 {
                throw Errno.current
            }
            do throws(Errno) {
                temporary = try TemporaryFile(besides: resolvedTarget, existing: exists ? info : nil)
            } catch where exists && (error.code == EACCES || error.code == EPERM) {
                // A writable file in a directory we may not create files in: no atomic
                // replace is possible, but the reference would succeed, writing in place.
                inPlaceSpool = Spool()
            }
        } catch {
            failure = UploadFailure(errno: error, namesFile: true)
        }
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        if let inPlaceSpool {
            inPlaceSpool.append(bytes)
            if let error = inPlaceSpool.failure { failure = UploadFailure(errno: error, namesFile: false) }
            return
        }
        do throws(Errno) {
            try temporary?.write(bytes)
        } catch {
            failure = UploadFailure(errno: error, namesFile: false)
        }
    }

    /// Applies metadata and puts the content in place. Without a call (an invalid field,
    /// a lost client) the temporary is removed when the sink is released.
    func commit(mode: UInt32?, uid: UInt32?, gid: UInt32?, creationMask: UInt32) throws(UploadFailure) {
        if let failure { throw failure }
        if let inPlaceSpool {
            return try writeInPlace(inPlaceSpool, mode: mode, uid: uid, gid: gid)
        }
        guard let temporary else { return }
        try temporary.finish(mode: mode, uid: uid, gid: gid, creationMask: creationMask)
    }

    private func writeInPlace(_ spool: Spool, mode: UInt32?, uid: UInt32?, gid: UInt32?) throws(UploadFailure) {
        do throws(Errno) {
            let fd = try retryingInterrupts { resolvedTarget.withCString { tp_open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666) } }
            defer { close(fd) }
            try spool.forEachChunk { (chunk) throws(Errno) in try writeAll(fd: fd, chunk) }
        } catch {
            throw UploadFailure(errno: error, namesFile: true)
        }
        try applyRequestedMetadata(to: .path(resolvedTarget), mode: mode, uid: uid, gid: gid)
    }
}

/// Whether a file we create can be given `info`'s owner and group: as root always; else only
/// when the owner is us and the group is one of ours.
func canRecreateOwnership(of info: stat) -> Bool {
    let uid = geteuid()
    if uid == 0 { return true }
    guard info.st_uid == uid else { return false }
    if info.st_gid == getegid() { return true }
    let size = getgroups(0, nil)
    guard size > 0 else { return false }
    var groups = [gid_t](repeating: 0, count: Int(size))
    let count = getgroups(size, &groups)
    return count > 0 && groups[0..<Int(count)].contains(info.st_gid)
}

/// A file to change metadata of: open, or by its path.
enum MetadataTarget {
    case descriptor(Int32)
    case path(String)
}

/// chmod, then chown (the reference's order; chown may clear set-id bits, so not the
/// reverse). `group` without `owner` keeps the owner (the reference would make it root).
func applyRequestedMetadata(to file: MetadataTarget, mode: UInt32?, uid: UInt32?, gid: UInt32?) throws(UploadFailure) {
    if let mode {
        let result: Int32
        switch file {
        case .descriptor(let fd): result = fchmod(fd, mode_t(mode))
        case .path(let path): result = path.withCString { chmod($0, mode_t(mode)) }
        }
        if result != 0 { throw UploadFailure(errno: .current, namesFile: true) }
    }
    if uid != nil || gid != nil {
        let newUID = uid ?? UInt32.max   // (uid_t)-1: leave as is
        let newGID = gid ?? UInt32.max
        let result: Int32
        switch file {
        case .descriptor(let fd): result = fchown(fd, newUID, newGID)
        case .path(let path): result = path.withCString { chown($0, newUID, newGID) }
        }
        if result != 0 { throw UploadFailure(errno: .current, namesFile: true) }
    }
}

/// Follows symlinks in the last path component (like open(2) does when it creates a file),
/// so that an upload through a link replaces the file it points to, dangling or not.
func followSymlinks(_ path: String) throws(Errno) -> String {
    var current = path
    for _ in 0..<40 {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = current.withCString { readlink($0, &buffer, buffer.count - 1) }
        if length < 0 { return current }   // not a link (or not there): open(2) decides
        let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("/") {
            current = target
        } else {
            current = directoryName(current) + "/" + target
        }
    }
    throw Errno(ELOOP)
}

func directoryName(_ path: String) -> String {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "." }
    if slash == 0 { return "/" }
    return String(decoding: bytes[0..<slash], as: UTF8.self)
}

func baseName(_ path: String) -> String {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(decoding: bytes[(slash + 1)...], as: UTF8.self)
}

/// The file an upload is written to before it replaces its target. Preferably unnamed
/// (`O_TMPFILE` in the target's directory): it gets a name only for the instant between
/// `linkat` and `rename`, so nothing can be left behind, not even by SIGKILL. Where that is
/// impossible (no O_TMPFILE on the filesystem, no /proc to link through) it is a named file
/// created exclusively, removed on release unless renamed, and by the signal handler if
/// SIGTERM, SIGHUP or SIGINT kill the agent meanwhile.
final class TemporaryFile {
    let target: String
    let fd: Int32
    /// The target's stat when it existed: its mode and owner carry over.
    let existing: stat?
    /// The temporary's name while it has one.
    private var name: String?
    private var renamed = false
    private let namePrefix: String

    init(besides target: String, existing: stat?) throws(Errno) {
        self.target = target
        self.existing = existing
        let directory = directoryName(target)
        namePrefix = directory + "/." + baseName(target) + ".tunnel-"
        if access("/proc/self/fd", X_OK) == 0 {
            let unnamed = directory.withCString { tp_open_unnamed($0) }
            if unnamed >= 0 {
                fd = unnamed
                return
            }
        }
        (fd, name) = try TemporaryFile.createNamed(prefix: namePrefix) { candidate in
            candidate.withCString { tp_open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        }
    }

    /// Tries random names after `prefix` until `make` does not fail with EEXIST.
    private static func createNamed(prefix: String, _ make: (String) -> Int32) throws(Errno) -> (Int32, String) {
        for _ in 0..<16 {
            let candidate = prefix + hexDigits(UInt32.random(in: 0...UInt32.max), width: 8)
            let result = make(candidate)
            if result >= 0 {
                candidate.withCString { tp_set_temporary_path($0) }
                return (result, candidate)
            }
            if tp_errno() != EEXIST { throw Errno.current }
        }
        throw Errno(EEXIST)
    }

    deinit {
        close(fd)
        if !renamed, let name { _ = name.withCString { unlink($0) } }
        tp_set_temporary_path(nil)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        try writeAll(fd: fd, bytes)
    }

    func finish(mode: UInt32?, uid: UInt32?, gid: UInt32?, creationMask: UInt32) throws(UploadFailure) {
        if let existing {
            // Owner first, then mode: chown may clear set-id bits that the mode restores.
            // (UploadSink chose this path only where the ownership can be recreated.)
            if fchown(fd, existing.st_uid, existing.st_gid) != 0 {
                throw UploadFailure(errno: .current, namesFile: true)
            }
            if fchmod(fd, existing.st_mode & 0o7777) != 0 { throw UploadFailure(errno: .current, namesFile: true) }
        } else if fchmod(fd, mode_t(0o666 & ~creationMask)) != 0 {
            throw UploadFailure(errno: .current, namesFile: true)
        }
        try applyRequestedMetadata(to: .descriptor(fd), mode: mode, uid: uid, gid: gid)
        if fsync(fd) != 0 { throw UploadFailure(errno: .current, namesFile: false) }
        if name == nil {
            do throws(Errno) {
                let fd = self.fd
                (_, name) = try TemporaryFile.createNamed(prefix: namePrefix) { candidate in
                    candidate.withCString { tp_link_unnamed(fd, $0) }
                }
            } catch {
                throw UploadFailure(errno: error, namesFile: true)
            }
        }
        let result = (name ?? "").withCString { from in target.withCString { to in rename(from, to) } }
        if result != 0 { throw UploadFailure(errno: .current, namesFile: true) }
        renamed = true
        tp_set_temporary_path(nil)
    }
}

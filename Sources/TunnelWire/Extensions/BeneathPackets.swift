// Transfers of whole trees (issue 20): each request names a `root`, opened as given (a
// symlink in it is followed, as it is in any path the user types), and a `path` below it
// whose every component is resolved without following a symlink. A tree that someone
// changes while it is copied (a folder swapped for a symlink to /etc) can make the copy
// fail, never reach outside the root. Paths are bytes: names that are not UTF-8 need no
// workaround. See docs/protocol.md, "Extensions".

/// Request: make the folder `path` below `root`, with `mode` set exactly (default 755), or
/// with `linkTarget` a symlink there instead. An existing folder (not a symlink to one) is
/// fine for a folder and keeps its mode; anything else already there is EEXIST. Answered
/// by `Ok`.
public struct CreateBeneath: DecodablePacket, Equatable {
    public static let id = PacketID.createBeneath
    /// The folder below which `path` is resolved; may be reached through symlinks.
    public var root: [UInt8]
    /// Relative, components separated by "/", none empty, "." or "..", none followed if a symlink.
    public var path: [UInt8]
    /// A folder's permission bits as an octal string; absent: 0755.
    public var mode: String?
    /// When present, a symlink to this is made (stored as given, not resolved), not a folder.
    public var linkTarget: [UInt8]?
    /// A CreateBeneath request with these fields.
    public init(root: [UInt8], path: [UInt8], mode: String? = nil, linkTarget: [UInt8]? = nil) {
        self.root = root
        self.path = path
        self.mode = mode
        self.linkTarget = linkTarget
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(root)
        writer.writeBytes(path)
        writer.writeOptionalString(mode)
        writer.writeOptionalBytes(linkTarget)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> CreateBeneath {
        CreateBeneath(root: try reader.readBytes(field: "root"), path: try reader.readBytes(field: "path"),
                      mode: try reader.readOptionalString(field: "mode"),
                      linkTarget: try reader.readOptionalBytes(field: "linkTarget"))
    }
}

/// Request: what is at `path` below `root`, whatever its kind, without following a final
/// symlink (an empty `path` is the root itself, followed). Answered by `DirEntries`… for a
/// folder, `DownloadResult` for a regular file, `LinkTarget` for a symlink; anything else is
/// an OSError (EINVAL). One request, so the kind cannot change between a stat and a read.
public struct ReadBeneath: DecodablePacket, Equatable {
    public static let id = PacketID.readBeneath
    /// The folder below which `path` is resolved; may be reached through symlinks.
    public var root: [UInt8]
    /// Relative, as `CreateBeneath.path`; empty for the root itself.
    public var path: [UInt8]
    /// For a folder: whether each entry carries its `lstat` result.
    public var withStatus: Bool
    /// A ReadBeneath request with these fields.
    public init(root: [UInt8], path: [UInt8], withStatus: Bool = false) {
        self.root = root
        self.path = path
        self.withStatus = withStatus
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(root)
        writer.writeBytes(path)
        writer.writeBool(withStatus)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ReadBeneath {
        ReadBeneath(root: try reader.readBytes(field: "root"), path: try reader.readBytes(field: "path"),
                    withStatus: try reader.readBool())
    }
}

/// Request: Upload's atomic replacement of the file at `path` below `root` (which must not
/// be empty). A symlink as the final component is replaced by the file, never written
/// through (as rsync does). `mode` applies to every file; absent, an existing file keeps
/// its own and a new one gets `newFileMode` (absent too: 0666 under the agent's umask).
/// Answered by `Ok`.
public struct UploadBeneath<Content> {
    public static var id: PacketID { .uploadBeneath }
    /// The folder below which `path` is resolved; may be reached through symlinks.
    public var root: [UInt8]
    /// Relative, as `CreateBeneath.path`, naming the file.
    public var path: [UInt8]
    /// The file's new content.
    public var content: Content
    /// Permission bits (octal) for the file whether or not it exists.
    public var mode: String?
    /// Permission bits (octal) for a file that does not exist yet.
    public var newFileMode: String?
    /// Owner (name or number), as Upload's.
    public var owner: String?
    /// Group (name or number), as Upload's.
    public var group: String?

    /// An UploadBeneath request with these fields.
    public init(root: [UInt8], path: [UInt8], content: Content, mode: String? = nil, newFileMode: String? = nil,
                owner: String? = nil, group: String? = nil) {
        self.root = root
        self.path = path
        self.content = content
        self.mode = mode
        self.newFileMode = newFileMode
        self.owner = owner
        self.group = group
    }

    /// Reads the fields after the id; `readContent` gets the root and path (already read)
    /// and the content's length, and consumes the content as it likes.
    public static func decodeFields<R: WireReader>(
        from reader: inout R,
        content readContent: (inout R, _ root: [UInt8], _ path: [UInt8], _ length: UInt64) throws(WireError) -> Content
    ) throws(WireError) -> UploadBeneath {
        let root = try reader.readBytes(field: "root")
        let path = try reader.readBytes(field: "path")
        let content = try readContent(&reader, root, path, try reader.readU64())
        return UploadBeneath(root: root, path: path, content: content,
                             mode: try reader.readOptionalString(field: "mode"),
                             newFileMode: try reader.readOptionalString(field: "newFileMode"),
                             owner: try reader.readOptionalString(field: "owner"),
                             group: try reader.readOptionalString(field: "group"))
    }
}

extension UploadBeneath: Packet where Content: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(root)
        writer.writeBytes(path)
        writer.writePayload(content)
        writer.writeOptionalString(mode)
        writer.writeOptionalString(newFileMode)
        writer.writeOptionalString(owner)
        writer.writeOptionalString(group)
    }
}

extension UploadBeneath: DecodablePacket where Content == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> UploadBeneath {
        try decodeFields(from: &reader) { (reader, _, _, length) throws(WireError) in
            try reader.readBytes(field: "content", length: length)
        }
    }
}

extension UploadBeneath: Equatable where Content: Equatable {}

/// Request: SetMetadata's change (mode, owner, group, mtime; each absent: unchanged) of
/// the entry at `path` below `root`, itself: a final symlink is never followed (Linux
/// cannot change a symlink's mode: EOPNOTSUPP). What `tunnel chmod -R` and `chown -R`
/// change a listed tree with, so that a folder swapped for a symlink after the listing
/// cannot lead the change outside the tree. Answered by `Ok`.
public struct SetMetadataBeneath: DecodablePacket, Equatable {
    public static let id = PacketID.setMetadataBeneath
    /// The folder below which `path` is resolved; may be reached through symlinks.
    public var root: [UInt8]
    /// Relative, as `CreateBeneath.path`, naming the entry; empty: the root itself (a
    /// folder, reached as named).
    public var path: [UInt8]
    /// New permission bits as an octal string; absent: unchanged.
    public var mode: String?
    /// New owner, a user name or number; absent: unchanged.
    public var owner: String?
    /// New group, a group name or number; absent: unchanged.
    public var group: String?
    /// New modification time in nanoseconds since the epoch; absent: unchanged.
    public var mtime: Int64?
    /// A SetMetadataBeneath request with these fields.
    public init(root: [UInt8], path: [UInt8], mode: String? = nil, owner: String? = nil, group: String? = nil,
                mtime: Int64? = nil) {
        self.root = root
        self.path = path
        self.mode = mode
        self.owner = owner
        self.group = group
        self.mtime = mtime
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(root)
        writer.writeBytes(path)
        writer.writeOptionalString(mode)
        writer.writeOptionalString(owner)
        writer.writeOptionalString(group)
        writer.writeBool(mtime != nil)
        if let mtime { writer.writeI64(mtime) }
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> SetMetadataBeneath {
        SetMetadataBeneath(root: try reader.readBytes(field: "root"), path: try reader.readBytes(field: "path"),
                           mode: try reader.readOptionalString(field: "mode"),
                           owner: try reader.readOptionalString(field: "owner"),
                           group: try reader.readOptionalString(field: "group"),
                           mtime: try reader.readBool() ? try reader.readI64() : nil)
    }
}

/// Request: Remove's removal of the entry at `path` below `root` (a symlink itself, never
/// what it points to; with `recursive`, a folder and everything below it), reached without
/// following any symlink below the root. What `tunnel sync --delete` removes with, so that
/// a folder swapped for a symlink after the listing cannot lead the removal outside the
/// tree. Answered by `Ok`.
public struct RemoveBeneath: DecodablePacket, Equatable {
    public static let id = PacketID.removeBeneath
    /// The folder below which `path` is resolved; may be reached through symlinks.
    public var root: [UInt8]
    /// Relative, as `CreateBeneath.path`, naming the entry (not empty).
    public var path: [UInt8]
    /// Whether a folder goes with everything below it; otherwise only an empty one.
    public var recursive: Bool
    /// A RemoveBeneath request with these fields.
    public init(root: [UInt8], path: [UInt8], recursive: Bool = false) {
        self.root = root
        self.path = path
        self.recursive = recursive
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(root)
        writer.writeBytes(path)
        writer.writeBool(recursive)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> RemoveBeneath {
        RemoveBeneath(root: try reader.readBytes(field: "root"), path: try reader.readBytes(field: "path"),
                      recursive: try reader.readBool())
    }
}

/// The components of a `*Beneath` path, each a single name; nil when one is empty, "." or
/// "..", or holds a NUL (the agent refuses such a path as an invalid field).
public func beneathComponents(_ path: [UInt8]) -> [[UInt8]]? {
    var components: [[UInt8]] = []
    guard !path.isEmpty else { return components }
    var current: [UInt8] = []
    for byte in path {
        if byte == UInt8(ascii: "/") {
            guard isSingleName(current) else { return nil }
            components.append(current)
            current.removeAll()
        } else {
            current.append(byte)
        }
    }
    guard isSingleName(current) else { return nil }
    components.append(current)
    return components
}

/// Whether `name` can only ever denote one entry of a folder: not empty, not "." or "..",
/// no "/" and no NUL. What a listing from a target that may lie must be checked against.
public func isSingleName(_ name: [UInt8]) -> Bool {
    let dot = UInt8(ascii: ".")
    return !name.isEmpty && name != [dot] && name != [dot, dot]
        && !name.contains(UInt8(ascii: "/")) && !name.contains(0)
}

// Files: stat, upload, download. Upload and download content is generic so the agent
// can stream it (a spool or the file itself) while clients and tests hold `[UInt8]`.

/// Request: `lstat` (or `stat` when `followLinks`), optionally with a SHA-512 of the content.
public struct Stat: DecodablePacket, Equatable {
    public static let id = PacketID.stat
    /// The path to examine.
    public var path: String
    /// Whether to `stat` what a symlink points to instead of the link (`lstat`).
    public var followLinks: Bool
    /// Whether to add the SHA-512 of a regular file's content.
    public var sha512sum: Bool
    /// A Stat request with these fields.
    public init(path: String, followLinks: Bool = false, sha512sum: Bool = false) {
        self.path = path
        self.followLinks = followLinks
        self.sha512sum = sha512sum
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(path)
        writer.writeBool(followLinks)
        writer.writeBool(sha512sum)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Stat {
        Stat(path: try reader.readString(field: "path"),
             followLinks: try reader.readBool(),
             sha512sum: try reader.readBool())
    }
}

/// Answer to `Stat`.
public struct StatResult: DecodablePacket, Equatable {
    public static let id = PacketID.statResult
    /// `dir`, `chr`, `blk`, `file`, `fifo`, `link`, `sock` or `other`.
    public var type: String
    /// Permission bits only (`st_mode & 0o7777`).
    public var mode: UInt64
    /// The owner's user name, or its number in decimal when it has none.
    public var owner: String
    /// The group's name, or its number in decimal when it has none.
    public var group: String
    /// The size in bytes (`st_size`).
    public var size: UInt64
    /// Nanoseconds since the epoch.
    public var mtime: UInt64
    /// The inode's change time, in nanoseconds since the epoch.
    public var ctime: UInt64
    /// The 64-byte digest, for regular files when asked.
    public var sha512sum: [UInt8]?

    /// A StatResult with these fields.
    public init(type: String, mode: UInt64, owner: String, group: String, size: UInt64,
                mtime: UInt64, ctime: UInt64, sha512sum: [UInt8]?) {
        self.type = type
        self.mode = mode
        self.owner = owner
        self.group = group
        self.size = size
        self.mtime = mtime
        self.ctime = ctime
        self.sha512sum = sha512sum
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(type)
        writer.writeU64(mode)
        writer.writeString(owner)
        writer.writeString(group)
        writer.writeU64(size)
        writer.writeU64(mtime)
        writer.writeU64(ctime)
        writer.writeOptionalPayload(sha512sum)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> StatResult {
        StatResult(type: try reader.readString(field: "type"),
                   mode: try reader.readU64(),
                   owner: try reader.readString(field: "owner"),
                   group: try reader.readString(field: "group"),
                   size: try reader.readU64(),
                   mtime: try reader.readU64(),
                   ctime: try reader.readU64(),
                   sha512sum: try reader.readOptionalBytes(field: "sha512sum"))
    }
}

/// Request: write `content` to `file` (the agent replaces it atomically).
public struct Upload<Content> {
    public static var id: PacketID { .upload }
    /// The file to create or replace.
    public var file: String
    /// Its new content, whole.
    public var content: Content
    /// Its permission bits as an octal string; absent: an existing file keeps its own, a new
    /// one gets what `open(O_CREAT, 0666)` gives under the agent's umask (0077: 0600).
    public var mode: String?
    /// Its owner (name or number), which also sets the group to the owner's primary one;
    /// absent: an existing file keeps its own, a new one belongs to the agent's user.
    public var owner: String?
    /// Its group (name or number); absent: as `owner` leaves it.
    public var group: String?

    /// An Upload request with these fields.
    public init(file: String, content: Content, mode: String? = nil, owner: String? = nil, group: String? = nil) {
        self.file = file
        self.content = content
        self.mode = mode
        self.owner = owner
        self.group = group
    }

    /// Reads the fields after the id; `readContent` gets the (already read) target path and
    /// the content's length and consumes the content as it likes.
    public static func decodeFields<R: WireReader>(
        from reader: inout R,
        content readContent: (inout R, _ file: String, _ length: UInt64) throws(WireError) -> Content
    ) throws(WireError) -> Upload {
        let file = try reader.readString(field: "file")
        let content = try readContent(&reader, file, try reader.readU64())
        return Upload(file: file,
                      content: content,
                      mode: try reader.readOptionalString(field: "mode"),
                      owner: try reader.readOptionalString(field: "owner"),
                      group: try reader.readOptionalString(field: "group"))
    }
}

extension Upload: Packet where Content: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(file)
        writer.writePayload(content)
        writer.writeOptionalString(mode)
        writer.writeOptionalString(owner)
        writer.writeOptionalString(group)
    }
}

extension Upload: DecodablePacket where Content == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Upload {
        try decodeFields(from: &reader) { (reader, _, length) throws(WireError) in
            try reader.readBytes(field: "content", length: length)
        }
    }
}

extension Upload: Equatable where Content: Equatable {}

/// Request: send back the content of `file`.
public struct Download: DecodablePacket, Equatable {
    public static let id = PacketID.download
    /// The file to read.
    public var file: String
    /// A Download request for `file`.
    public init(file: String) { self.file = file }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(file)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Download {
        Download(file: try reader.readString(field: "file"))
    }
}

/// Answer to `Download`.
public struct DownloadResult<Content> {
    public static var id: PacketID { .downloadResult }
    /// The file's whole content.
    public var content: Content
    /// The answer carrying `content`.
    public init(content: Content) { self.content = content }
}

extension DownloadResult: Packet where Content: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writePayload(content)
    }
}

extension DownloadResult: DecodablePacket where Content == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> DownloadResult {
        DownloadResult(content: try reader.readBytes(field: "content"))
    }
}

extension DownloadResult: Equatable where Content: Equatable {}

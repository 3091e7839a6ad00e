// File operations that need no program on the target. Each answers Ok (or its result)
// or the originals' OSError / InvalidField. Mode, owner and group are parsed as Upload's.

/// Request: the names in a folder, with their types, and the full stat of each when asked.
/// Answered by `DirEntries` packets, the last one marked, in chunks for huge folders.
public struct ListDir: DecodablePacket, Equatable {
    public static let id = PacketID.listDir
    public var path: [UInt8]
    public var withStatus: Bool
    public init(path: [UInt8], withStatus: Bool = false) {
        self.path = path
        self.withStatus = withStatus
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(withStatus)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ListDir {
        ListDir(path: try reader.readBytes(field: "path"), withStatus: try reader.readBool())
    }
}

/// One name in a folder. `type` uses StatResult's words (`dir`, `file`, `link`, ...).
public struct DirEntry: Equatable {
    public var name: [UInt8]
    public var type: String
    /// With `ListDir.withStatus`: as a Stat of the entry (not following a link) would say,
    /// without SHA-512. Absent when the entry vanished meanwhile.
    public var status: StatResult?
    public init(name: [UInt8], type: String, status: StatResult? = nil) {
        self.name = name
        self.type = type
        self.status = status
    }
}

/// Answer to `ListDir`: some of its entries; `last` on the final chunk.
public struct DirEntries: DecodablePacket, Equatable {
    public static let id = PacketID.dirEntries
    public var entries: [DirEntry]
    public var last: Bool
    public init(entries: [DirEntry], last: Bool) {
        self.entries = entries
        self.last = last
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeU64(UInt64(entries.count))
        for entry in entries {
            writer.writeBytes(entry.name)
            writer.writeString(entry.type)
            writer.writeBool(entry.status != nil)
            if let status = entry.status { status.encodeFields(to: &writer) }
        }
        writer.writeBool(last)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> DirEntries {
        let count = try reader.readU64()
        guard count <= reader.limits.maxListCount else { throw .listTooLong(field: "entries", count: count) }
        var entries: [DirEntry] = []
        for _ in 0..<count {
            let name = try reader.readBytes(field: "name")
            let type = try reader.readString(field: "type")
            let status = try reader.readBool() ? try StatResult.decodeFields(from: &reader) : nil
            entries.append(DirEntry(name: name, type: type, status: status))
        }
        return DirEntries(entries: entries, last: try reader.readBool())
    }
}

/// Request: make a folder. `mode` (octal, as Upload's; default 755) is set exactly, not
/// masked by a umask. With `parents`, missing parents are made (755) and an existing
/// folder is fine, as `mkdir -p`.
public struct MakeDir: DecodablePacket, Equatable {
    public static let id = PacketID.makeDir
    public var path: [UInt8]
    public var mode: String?
    public var parents: Bool
    public init(path: [UInt8], mode: String? = nil, parents: Bool = false) {
        self.path = path
        self.mode = mode
        self.parents = parents
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeOptionalString(mode)
        writer.writeBool(parents)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> MakeDir {
        MakeDir(path: try reader.readBytes(field: "path"), mode: try reader.readOptionalString(field: "mode"),
                parents: try reader.readBool())
    }
}

/// Request: remove a file, a symlink or an empty folder; with `recursive`, a whole tree,
/// never following a symlink out of it.
public struct Remove: DecodablePacket, Equatable {
    public static let id = PacketID.remove
    public var path: [UInt8]
    public var recursive: Bool
    public init(path: [UInt8], recursive: Bool = false) {
        self.path = path
        self.recursive = recursive
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(recursive)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Remove {
        Remove(path: try reader.readBytes(field: "path"), recursive: try reader.readBool())
    }
}

/// Request: `rename(2)`, atomic; with `noReplace`, an existing target is an error (EEXIST).
public struct Rename: DecodablePacket, Equatable {
    public static let id = PacketID.rename
    public var source: [UInt8]
    public var target: [UInt8]
    public var noReplace: Bool
    public init(source: [UInt8], target: [UInt8], noReplace: Bool = false) {
        self.source = source
        self.target = target
        self.noReplace = noReplace
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(source)
        writer.writeBytes(target)
        writer.writeBool(noReplace)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Rename {
        Rename(source: try reader.readBytes(field: "source"), target: try reader.readBytes(field: "target"),
               noReplace: try reader.readBool())
    }
}

/// Request: change what is given of mode, owner, group and mtime (nanoseconds since the
/// epoch), on the path or, without `followLinks`, on a symlink itself (Linux cannot
/// change a symlink's mode: EOPNOTSUPP).
public struct SetMetadata: DecodablePacket, Equatable {
    public static let id = PacketID.setMetadata
    public var path: [UInt8]
    public var followLinks: Bool
    public var mode: String?
    public var owner: String?
    public var group: String?
    public var mtime: Int64?
    public init(path: [UInt8], followLinks: Bool = true, mode: String? = nil, owner: String? = nil,
                group: String? = nil, mtime: Int64? = nil) {
        self.path = path
        self.followLinks = followLinks
        self.mode = mode
        self.owner = owner
        self.group = group
        self.mtime = mtime
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(followLinks)
        writer.writeOptionalString(mode)
        writer.writeOptionalString(owner)
        writer.writeOptionalString(group)
        writer.writeBool(mtime != nil)
        if let mtime { writer.writeI64(mtime) }
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> SetMetadata {
        SetMetadata(path: try reader.readBytes(field: "path"), followLinks: try reader.readBool(),
                    mode: try reader.readOptionalString(field: "mode"), owner: try reader.readOptionalString(field: "owner"),
                    group: try reader.readOptionalString(field: "group"),
                    mtime: try reader.readBool() ? try reader.readI64() : nil)
    }
}

/// Request: make `path` a symlink to `target` (which need not exist).
public struct Symlink: DecodablePacket, Equatable {
    public static let id = PacketID.symlink
    public var target: [UInt8]
    public var path: [UInt8]
    public init(target: [UInt8], path: [UInt8]) {
        self.target = target
        self.path = path
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(target)
        writer.writeBytes(path)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Symlink {
        Symlink(target: try reader.readBytes(field: "target"), path: try reader.readBytes(field: "path"))
    }
}

/// Request: a symlink's target. Answered by `LinkTarget`.
public struct ReadLink: DecodablePacket, Equatable {
    public static let id = PacketID.readLink
    public var path: [UInt8]
    public init(path: [UInt8]) { self.path = path }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBytes(path) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ReadLink {
        ReadLink(path: try reader.readBytes(field: "path"))
    }
}

public struct LinkTarget: DecodablePacket, Equatable {
    public static let id = PacketID.linkTarget
    public var target: [UInt8]
    public init(target: [UInt8]) { self.target = target }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBytes(target) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> LinkTarget {
        LinkTarget(target: try reader.readBytes(field: "target"))
    }
}

/// Request: Stat by a `bytes` path, answered by `StatResult`; a missing file is an OSError.
public struct StatPath: DecodablePacket, Equatable {
    public static let id = PacketID.statPath
    public var path: [UInt8]
    public var followLinks: Bool
    public var sha512sum: Bool
    public init(path: [UInt8], followLinks: Bool = false, sha512sum: Bool = false) {
        self.path = path
        self.followLinks = followLinks
        self.sha512sum = sha512sum
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytes(path)
        writer.writeBool(followLinks)
        writer.writeBool(sha512sum)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> StatPath {
        StatPath(path: try reader.readBytes(field: "path"), followLinks: try reader.readBool(),
                 sha512sum: try reader.readBool())
    }
}

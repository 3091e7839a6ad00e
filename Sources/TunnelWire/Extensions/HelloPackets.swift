// Extensions (ids 23 and up): packets fora's client never sends. See docs/protocol.md,
// "Extensions". Paths and names travel as `bytes`, so non-UTF-8 file names work.

/// Request: which extensions does this agent serve? fora's Python dispatcher does not know
/// it and aborts the session, which is how a client tells the two apart. It also sets the
/// session's choices.
public struct Hello: DecodablePacket, Equatable {
    public static let id = PacketID.hello
    /// This session's Uploads are answered only once synced to disk, grouped (the agent's
    /// `--durable`); false keeps the agent's default (docs/protocol.md, "Durability").
    public var durableUploads: Bool
    /// A Hello asking for durable uploads or not.
    public init(durableUploads: Bool = false) { self.durableUploads = durableUploads }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBool(durableUploads) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Hello {
        Hello(durableUploads: try reader.readBool())
    }
}

/// Answer to `Hello`: the agent's version and the ids of the extension packets it serves.
public struct HelloResult: DecodablePacket, Equatable {
    public static let id = PacketID.helloResult
    /// The agent's version, as `--version` prints it.
    public var version: String
    /// The ids of the extension requests it serves.
    public var extensions: [UInt32]
    /// Whether this session's Uploads are now synced before their answer.
    public var durableUploads: Bool
    /// The answer with these fields.
    public init(version: String, extensions: [UInt32], durableUploads: Bool = false) {
        self.version = version
        self.extensions = extensions
        self.durableUploads = durableUploads
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(version)
        writer.writeU64(UInt64(extensions.count))
        for id in extensions { writer.writeU32(id) }
        writer.writeBool(durableUploads)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> HelloResult {
        let version = try reader.readString(field: "version")
        let count = try reader.readU64()
        guard count <= 1024 else { throw .listTooLong(field: "extensions", count: count) }
        var extensions: [UInt32] = []
        for _ in 0..<count { extensions.append(try reader.readU32()) }
        return HelloResult(version: version, extensions: extensions, durableUploads: try reader.readBool())
    }
}

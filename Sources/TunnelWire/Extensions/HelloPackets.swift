// Extensions (ids 23 and up): packets fora's client never sends. See docs/protocol.md,
// "Extensions". Paths and names travel as `bytes`, so non-UTF-8 file names work.

/// Request: which extensions does this agent serve? fora's Python dispatcher does not know
/// it and aborts the session, which is how a client tells the two apart. It also sets the
/// session's choices, one bit each in its options byte (an agent ignores bits it does not
/// know, and HelloResult says which it took).
public struct Hello: DecodablePacket, Equatable {
    public static let id = PacketID.hello
    /// This session's Uploads are answered only once synced to disk, grouped (the agent's
    /// `--durable`); false keeps the agent's default (docs/protocol.md, "Durability").
    public var durableUploads: Bool
    /// Extension requests are refused with `Failure` (errno and step as fields) instead of
    /// the originals' OSError, InvalidField and ProcessError.
    public var structuredFailures: Bool
    /// A Hello asking for these choices.
    public init(durableUploads: Bool = false, structuredFailures: Bool = false) {
        self.durableUploads = durableUploads
        self.structuredFailures = structuredFailures
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBigEndian(HelloOptions.byte(durableUploads: durableUploads, structuredFailures: structuredFailures))
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Hello {
        let options = try reader.readBigEndian(UInt8.self)
        return Hello(durableUploads: options & HelloOptions.durableUploads != 0,
                     structuredFailures: options & HelloOptions.structuredFailures != 0)
    }
}

/// The bits of Hello's and HelloResult's options byte. Bit 0 was a bool before bit 1 existed,
/// so an older agent reads any non-zero byte as "durable uploads" (and never answers with
/// Failure, which its HelloResult shows).
enum HelloOptions {
    static let durableUploads: UInt8 = 1
    static let structuredFailures: UInt8 = 2

    static func byte(durableUploads: Bool, structuredFailures: Bool) -> UInt8 {
        (durableUploads ? Self.durableUploads : 0) | (structuredFailures ? Self.structuredFailures : 0)
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
    /// Whether this session's extension requests are now refused with `Failure`.
    public var structuredFailures: Bool
    /// The answer with these fields.
    public init(version: String, extensions: [UInt32], durableUploads: Bool = false, structuredFailures: Bool = false) {
        self.version = version
        self.extensions = extensions
        self.durableUploads = durableUploads
        self.structuredFailures = structuredFailures
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(version)
        writer.writeU64(UInt64(extensions.count))
        for id in extensions { writer.writeU32(id) }
        writer.writeBigEndian(HelloOptions.byte(durableUploads: durableUploads, structuredFailures: structuredFailures))
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> HelloResult {
        let version = try reader.readString(field: "version")
        let count = try reader.readU64()
        guard count <= 1024 else { throw .listTooLong(field: "extensions", count: count) }
        var extensions: [UInt32] = []
        for _ in 0..<count { extensions.append(try reader.readU32()) }
        let options = try reader.readBigEndian(UInt8.self)
        return HelloResult(version: version, extensions: extensions,
                           durableUploads: options & HelloOptions.durableUploads != 0,
                           structuredFailures: options & HelloOptions.structuredFailures != 0)
    }
}

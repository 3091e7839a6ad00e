// Extensions (ids 23 and up): packets fora's client never sends. See docs/protocol.md,
// "Extensions". Paths and names travel as `bytes`, so non-UTF-8 file names work.

/// Request: which extensions does this agent serve? fora's Python dispatcher does not know
/// it and aborts the session, which is how a client tells the two apart.
public struct Hello: DecodablePacket, Equatable {
    public static let id = PacketID.hello
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Hello { Hello() }
}

/// Answer to `Hello`: the agent's version and the ids of the extension packets it serves.
public struct HelloResult: DecodablePacket, Equatable {
    public static let id = PacketID.helloResult
    public var version: String
    public var extensions: [UInt32]
    public init(version: String, extensions: [UInt32]) {
        self.version = version
        self.extensions = extensions
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(version)
        writer.writeU64(UInt64(extensions.count))
        for id in extensions { writer.writeU32(id) }
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> HelloResult {
        let version = try reader.readString(field: "version")
        let count = try reader.readU64()
        guard count <= 1024 else { throw .listTooLong(field: "extensions", count: count) }
        var extensions: [UInt32] = []
        for _ in 0..<count { extensions.append(try reader.readU32()) }
        return HelloResult(version: version, extensions: extensions)
    }
}

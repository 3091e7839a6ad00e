// The packets every session uses: liveness, end, and the generic error answers.

/// Generic success (answer to `Upload`).
public struct Ok: DecodablePacket, Equatable {
    public static let id = PacketID.ok
    /// The answer (no fields).
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Ok { Ok() }
}

/// Answer to `CheckAlive`.
public struct Ack: DecodablePacket, Equatable {
    public static let id = PacketID.ack
    /// The answer (no fields).
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Ack { Ack() }
}

/// Request: answer `Ack` at once.
public struct CheckAlive: DecodablePacket, Equatable {
    public static let id = PacketID.checkAlive
    /// The request (no fields).
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> CheckAlive { CheckAlive() }
}

/// Request: end the session; there is no answer.
public struct Exit: DecodablePacket, Equatable {
    public static let id = PacketID.exit
    /// The request (no fields).
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Exit { Exit() }
}

/// An operating-system error while handling a request, as Python's `OSError` carries it:
/// `msg` is `str(exc)`, e.g. `[Errno 2] No such file or directory: '/x'`.
public struct OSError: DecodablePacket, Equatable {
    public static let id = PacketID.osError
    /// The error number (`errno`), as the target's libc defines it.
    public var errno: Int64
    /// The error's text, as Python's `os.strerror` words it.
    public var strerror: String
    /// What failed: the reference's message, usually naming the path.
    public var msg: String
    /// An OSError answer with these fields.
    public init(errno: Int64, strerror: String, msg: String) {
        self.errno = errno
        self.strerror = strerror
        self.msg = msg
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeI64(errno)
        writer.writeString(strerror)
        writer.writeString(msg)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> OSError {
        OSError(errno: try reader.readI64(),
                strerror: try reader.readString(field: "strerror"),
                msg: try reader.readString(field: "msg"))
    }
}

/// A request field held a value the agent cannot use.
public struct InvalidField: DecodablePacket, Equatable {
    public static let id = PacketID.invalidField
    /// The request field that was rejected (the reference's name for it).
    public var field: String
    /// Why it was rejected.
    public var errorMessage: String
    /// An InvalidField answer with these fields.
    public init(field: String, errorMessage: String) {
        self.field = field
        self.errorMessage = errorMessage
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(field)
        writer.writeString(errorMessage)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> InvalidField {
        InvalidField(field: try reader.readString(field: "field"),
                     errorMessage: try reader.readString(field: "error_message"))
    }
}

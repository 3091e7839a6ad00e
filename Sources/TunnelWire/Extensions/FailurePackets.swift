// Failure (id 41): an extension request refused, with its reasons as fields, so that a
// client decides what happened from numbers, never from message text. Sent only in a
// session whose Hello asked for it (`structuredFailures`); the 23 original packets are
// always refused with the reference's own OSError, InvalidField and ProcessError.

/// The step of a request that failed. A raw value the client does not know stays what it
/// is (an agent newer than the client may name more steps).
public struct FailureStep: RawRepresentable, Equatable, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A field of the request holds a value the agent rejects; `subject` names the field.
    public static let field = FailureStep(rawValue: 0)
    /// A system call that concerns no path of the request (errno says which trouble).
    public static let system = FailureStep(rawValue: 1)
    /// The operation on the path in `subject` (open, mkdir, chmod, unlink, rename...).
    public static let file = FailureStep(rawValue: 2)
    /// A run's working folder (`subject`) could not be entered.
    public static let changeDirectory = FailureStep(rawValue: 3)
    /// A run's program (`subject`) could not be executed: ENOENT when it does not exist.
    public static let execute = FailureStep(rawValue: 4)
    /// A run's child could not take its identity (groups, gid, uid) or umask.
    public static let prepareChild = FailureStep(rawValue: 5)
    /// The agent's policy does not allow the request (a restricted agent); `subject` says
    /// what was refused. Reserved: no policy exists yet.
    public static let policy = FailureStep(rawValue: 6)
}

/// Answer: the extension request was refused.
public struct Failure: DecodablePacket, Equatable, Sendable {
    public static let id = PacketID.failure
    /// Which step failed.
    public var step: FailureStep
    /// The operating system's error number; 0 when the refusal is not an OS error (a field,
    /// a policy).
    public var errno: Int64
    /// What the step was about: the path (bytes, as the request sent it) or the field's name;
    /// empty when nothing in particular.
    public var subject: [UInt8]
    /// For people, never for deciding: the words the originals' error packet would carry.
    public var message: String
    /// A Failure with these fields.
    public init(step: FailureStep, errno: Int64, subject: [UInt8], message: String) {
        self.step = step
        self.errno = errno
        self.subject = subject
        self.message = message
    }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBigEndian(step.rawValue)
        writer.writeI64(errno)
        writer.writeBytes(subject)
        writer.writeString(message)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Failure {
        Failure(step: FailureStep(rawValue: try reader.readBigEndian(UInt8.self)), errno: try reader.readI64(),
                subject: try reader.readBytes(field: "subject"), message: try reader.readString(field: "message"))
    }
}

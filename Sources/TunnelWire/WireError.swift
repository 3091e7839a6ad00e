/// Why a packet could not be read or written. Every case ends the session, because
/// after it the two sides no longer agree where the next packet starts.
/// Bad *values* (invalid UTF-8, an over-long string) are not `WireError`s: the reader
/// reports them with `WireReader.reportInvalid` and the session goes on.
public enum WireError: Error, Equatable {
    /// The input ended exactly at a packet boundary: the peer went away.
    case endOfStream
    /// The input ended inside a packet.
    case truncated
    /// A packet id beyond the registry.
    case invalidPacketID(UInt32)
    /// A known packet that may not travel in this direction (a response sent as a request).
    case wrongDirection(PacketID)
    /// A list whose declared count exceeds `WireLimits.maxListCount`.
    case listTooLong(field: String, count: UInt64)
    /// A payload whose declared length exceeds what the reader will hold in memory.
    case payloadTooLong(field: String, length: UInt64)
    /// Reading or writing the transport failed with this errno.
    case io(Int32)
    /// The answer being sent could not be completed (see `WireWriter.abandon`), or the
    /// stream it goes to is broken; the text says why.
    case abandoned(String)
    /// A request other than Input, CloseInput, Signal or Exit while a RunEx was running.
    case unexpectedDuringRun(PacketID)

    /// The text the agent prints before "Aborting." — the reference's wording where it has one.
    public var message: String {
        switch self {
        case .endOfStream, .truncated:
            return "Unexpected EOF in data stream"
        case .invalidPacketID(let id):
            return "Received invalid packet id '\(id)'"
        case .wrongDirection(let id):
            return "Received response packet '\(id.name)' (id \(id.rawValue)) where a request was expected"
        case .listTooLong(let field, let count):
            return "Field '\(field)' declares \(count) list elements, more than the limit of \(WireLimits.agent.maxListCount)"
        case .payloadTooLong(let field, let length):
            return "Field '\(field)' declares \(length) bytes, more than this reader holds in memory"
        case .io(let code):
            return "I/O error on the data stream (errno \(code))"
        case .abandoned(let reason):
            return reason
        case .unexpectedDuringRun(let id):
            return "Received '\(id.name)' while a RunEx was running (only Input, CloseInput, Signal and Exit may come then)"
        }
    }
}

/// Caps on what a reader will hold in memory for one field. A declared length is never
/// allocated up front: storage grows only as bytes actually arrive.
public struct WireLimits: Sendable {
    /// Longest `str` kept; a longer one is skipped and reported as an invalid field.
    public var maxStringBytes: Int
    /// Most elements in a `list`; more is a protocol error (they cannot be skipped cheaply).
    public var maxListCount: UInt64
    /// Longest `bytes` value held in memory (streamed payloads are not subject to it).
    public var maxInMemoryBytes: UInt64
    /// Most bytes all the strings of one list hold together; the strings beyond are skipped
    /// and the list reported as an invalid field.
    public var maxListBytes: UInt64

    /// Limits with these values (`agent` holds the agent's own).
    public init(maxStringBytes: Int, maxListCount: UInt64, maxInMemoryBytes: UInt64, maxListBytes: UInt64) {
        self.maxStringBytes = maxStringBytes
        self.maxListCount = maxListCount
        self.maxInMemoryBytes = maxInMemoryBytes
        self.maxListBytes = maxListBytes
    }

    /// The agent's caps: 1 MiB per string (paths, argv elements, environment values are all
    /// far smaller), 65536 list elements and 4 MiB in all per list (more than any argv the
    /// kernel accepts: 128 KiB per argument, a quarter of the stack limit in all).
    public static let agent = WireLimits(maxStringBytes: 1 << 20, maxListCount: 65536, maxInMemoryBytes: 1 << 20,
                                         maxListBytes: 4 << 20)
    /// A client trusts its agent more: downloads and captured output are held whole.
    public static let client = WireLimits(maxStringBytes: 64 << 20, maxListCount: 1 << 24, maxInMemoryBytes: UInt64(Int.max),
                                          maxListBytes: UInt64(Int.max))
}

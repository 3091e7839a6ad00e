/// A packet's id is its declaration order in the reference
/// (`fora/connectors/tunnel_dispatcher.py`). Never renumber; new packets take 23 upwards,
/// as the lead gives them out. Each id has one row in `registryEntry` below, the protocol's
/// single table of ids, names and directions.
public enum PacketID: UInt32, CaseIterable, Sendable {
    case ok = 0, ack, checkAlive, exit, osError, invalidField
    case processCompleted, processError, processRun
    case statResult, stat
    case resolveResult, resolveUser, resolveGroup
    case upload, downloadResult, download
    case userEntry, queryUser, groupEntry, queryGroup
    case environVar, getenv
    // Extensions: fora's client never sends them (docs/protocol.md, "Extensions").
    case hello = 23, helloResult, runEx, output, runFinished, input, closeInput, signal
    case listDir, dirEntries, makeDir, remove, rename, setMetadata, symlink, readLink, linkTarget, statPath
    case failure = 41
    // Tree transfers that never follow a symlink below their root (BeneathPackets.swift).
    case uploadBeneath = 42, readBeneath, createBeneath
    // chmod -R / chown -R and sync's changes and removals below a root, never through a
    // symlink (BeneathPackets.swift).
    case setMetadataBeneath = 45, removeBeneath
    // ls -l's link counts and device numbers, which StatResult lacks (StatNumbersPackets.swift).
    case statNumbers = 47
    // A run on a pseudo-terminal, and its window size (TerminalPackets.swift).
    case windowSize = 48, runTerminal
    // StatNumbers' answer.
    case statNumbersResult = 52

    /// Who sends a packet.
    public enum Direction: Sendable {
        /// Client → agent, answered.
        case request
        /// Client → agent, never answered (a streamed run's controls).
        case requestWithoutAnswer
        /// Agent → client.
        case answer
    }

    /// The registry: each packet's name (the reference's class name for fora's 23, used in
    /// `--debug` lines) and direction. scripts/packet_registry.py reads these rows, and the
    /// tests check protocol.md's tables, the fuzz dictionary and the Python test codec against
    /// them: keep one `case .id: return ("Name", .direction)` per line.
    private var registryEntry: (name: String, direction: Direction) {
        switch self {
        case .ok: return ("PacketOk", .answer)
        case .ack: return ("PacketAck", .answer)
        case .checkAlive: return ("PacketCheckAlive", .request)
        case .exit: return ("PacketExit", .request)
        case .osError: return ("PacketOSError", .answer)
        case .invalidField: return ("PacketInvalidField", .answer)
        case .processCompleted: return ("PacketProcessCompleted", .answer)
        case .processError: return ("PacketProcessError", .answer)
        case .processRun: return ("PacketProcessRun", .request)
        case .statResult: return ("PacketStatResult", .answer)
        case .stat: return ("PacketStat", .request)
        case .resolveResult: return ("PacketResolveResult", .answer)
        case .resolveUser: return ("PacketResolveUser", .request)
        case .resolveGroup: return ("PacketResolveGroup", .request)
        case .upload: return ("PacketUpload", .request)
        case .downloadResult: return ("PacketDownloadResult", .answer)
        case .download: return ("PacketDownload", .request)
        case .userEntry: return ("PacketUserEntry", .answer)
        case .queryUser: return ("PacketQueryUser", .request)
        case .groupEntry: return ("PacketGroupEntry", .answer)
        case .queryGroup: return ("PacketQueryGroup", .request)
        case .environVar: return ("PacketEnvironVar", .answer)
        case .getenv: return ("PacketGetenv", .request)
        case .hello: return ("Hello", .request)
        case .helloResult: return ("HelloResult", .answer)
        case .runEx: return ("RunEx", .request)
        case .output: return ("Output", .answer)
        case .runFinished: return ("RunFinished", .answer)
        case .input: return ("Input", .requestWithoutAnswer)
        case .closeInput: return ("CloseInput", .requestWithoutAnswer)
        case .signal: return ("Signal", .requestWithoutAnswer)
        case .listDir: return ("ListDir", .request)
        case .dirEntries: return ("DirEntries", .answer)
        case .makeDir: return ("MakeDir", .request)
        case .remove: return ("Remove", .request)
        case .rename: return ("Rename", .request)
        case .setMetadata: return ("SetMetadata", .request)
        case .symlink: return ("Symlink", .request)
        case .readLink: return ("ReadLink", .request)
        case .linkTarget: return ("LinkTarget", .answer)
        case .statPath: return ("StatPath", .request)
        case .failure: return ("Failure", .answer)
        case .uploadBeneath: return ("UploadBeneath", .request)
        case .readBeneath: return ("ReadBeneath", .request)
        case .createBeneath: return ("CreateBeneath", .request)
        case .setMetadataBeneath: return ("SetMetadataBeneath", .request)
        case .removeBeneath: return ("RemoveBeneath", .request)
        case .windowSize: return ("WindowSize", .requestWithoutAnswer)
        case .runTerminal: return ("RunTerminal", .request)
        case .statNumbers: return ("StatNumbers", .request)
        case .statNumbersResult: return ("StatNumbersResult", .answer)
        }
    }

    /// The reference's class name, used in `--debug` lines.
    public var name: String { registryEntry.name }

    /// Who sends it.
    public var direction: Direction { registryEntry.direction }

    /// Requests travel client → agent, everything else agent → client.
    public var isRequest: Bool { direction != .answer }

    /// Ids 23 and up: packets fora's client never sends nor receives.
    public var isExtension: Bool { rawValue >= PacketID.hello.rawValue }

    /// The extension requests an agent may serve (what HelloResult lists).
    public static let extensionRequests: [PacketID] = allCases.filter { $0.isExtension && $0.isRequest }
}

extension WireReader {
    /// Reads the id that starts a packet. Input ending before its first byte is
    /// `.endOfStream` (the peer went away between packets); inside it, `.truncated`.
    public mutating func readPacketID() throws(WireError) -> PacketID {
        var first: UInt8 = 0
        do {
            try withUnsafeMutableBytes(of: &first) { (raw) throws(WireError) in try read(into: raw) }
        } catch .truncated {
            throw .endOfStream
        }
        var rest: (UInt8, UInt8, UInt8) = (0, 0, 0)
        try withUnsafeMutableBytes(of: &rest) { (raw) throws(WireError) in try read(into: raw) }
        let raw = UInt32(first) << 24 | UInt32(rest.0) << 16 | UInt32(rest.1) << 8 | UInt32(rest.2)
        guard let id = PacketID(rawValue: raw) else { throw .invalidPacketID(raw) }
        return id
    }
}

/// A packet that can be written. `encodeFields` writes what follows the id.
public protocol Packet {
    /// The id that precedes the packet's fields on the wire.
    static var id: PacketID { get }
    /// Writes the fields that follow the id, in the protocol's order.
    func encodeFields<W: WireWriter>(to writer: inout W)
}

/// A packet that can be read whole into memory.
public protocol DecodablePacket: Packet {
    /// Reads the fields after the id.
    static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Self
}

extension Packet {
    /// Writes the id and then the fields.
    public func encode<W: WireWriter>(to writer: inout W) {
        writer.writeU32(Self.id.rawValue)
        encodeFields(to: &writer)
    }

    /// The packet's bytes (tests, and clients that write to memory first).
    public var encoded: [UInt8] {
        var writer = ByteWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

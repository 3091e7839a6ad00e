/// The registry: a packet's id is its declaration order in the reference
/// (`fora/connectors/tunnel_dispatcher.py`). Never renumber; new packets take 23 upwards.
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
    // Tree transfers that never follow a symlink below their root (BeneathPackets.swift).
    case uploadBeneath = 42, readBeneath, createBeneath

    /// The extension requests an agent may serve (what HelloResult lists).
    public static let extensionRequests: [PacketID] = [
        .hello, .runEx, .input, .closeInput, .signal, .listDir, .makeDir, .remove, .rename,
        .setMetadata, .symlink, .readLink, .statPath,
        .uploadBeneath, .readBeneath, .createBeneath,
    ]

    /// Requests travel client → agent, everything else agent → client.
    public var isRequest: Bool {
        switch self {
        case .checkAlive, .exit, .processRun, .stat, .resolveUser, .resolveGroup,
             .upload, .download, .queryUser, .queryGroup, .getenv,
             .hello, .runEx, .input, .closeInput, .signal, .listDir, .makeDir, .remove, .rename,
             .setMetadata, .symlink, .readLink, .statPath,
             .uploadBeneath, .readBeneath, .createBeneath:
            return true
        default:
            return false
        }
    }

    /// The reference's class name, used in `--debug` lines.
    public var name: String {
        switch self {
        case .ok: return "PacketOk"
        case .ack: return "PacketAck"
        case .checkAlive: return "PacketCheckAlive"
        case .exit: return "PacketExit"
        case .osError: return "PacketOSError"
        case .invalidField: return "PacketInvalidField"
        case .processCompleted: return "PacketProcessCompleted"
        case .processError: return "PacketProcessError"
        case .processRun: return "PacketProcessRun"
        case .statResult: return "PacketStatResult"
        case .stat: return "PacketStat"
        case .resolveResult: return "PacketResolveResult"
        case .resolveUser: return "PacketResolveUser"
        case .resolveGroup: return "PacketResolveGroup"
        case .upload: return "PacketUpload"
        case .downloadResult: return "PacketDownloadResult"
        case .download: return "PacketDownload"
        case .userEntry: return "PacketUserEntry"
        case .queryUser: return "PacketQueryUser"
        case .groupEntry: return "PacketGroupEntry"
        case .queryGroup: return "PacketQueryGroup"
        case .environVar: return "PacketEnvironVar"
        case .getenv: return "PacketGetenv"
        case .hello: return "Hello"
        case .helloResult: return "HelloResult"
        case .runEx: return "RunEx"
        case .output: return "Output"
        case .runFinished: return "RunFinished"
        case .input: return "Input"
        case .closeInput: return "CloseInput"
        case .signal: return "Signal"
        case .listDir: return "ListDir"
        case .dirEntries: return "DirEntries"
        case .makeDir: return "MakeDir"
        case .remove: return "Remove"
        case .rename: return "Rename"
        case .setMetadata: return "SetMetadata"
        case .symlink: return "Symlink"
        case .readLink: return "ReadLink"
        case .linkTarget: return "LinkTarget"
        case .statPath: return "StatPath"
        case .uploadBeneath: return "UploadBeneath"
        case .readBeneath: return "ReadBeneath"
        case .createBeneath: return "CreateBeneath"
        }
    }
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

// A run on a pseudo-terminal (`tunnel run -t`, `tunnel shell`) and its window size.
//
// A packet of its own rather than a new RunEx field: RunEx's encoding stays what older
// clients and agents know, and a client learns from HelloResult whether the agent serves it.

/// A terminal's size in character cells, as `TIOCSWINSZ` takes it. The kernel holds
/// 16 bits each: larger values are clamped to 65535 when applied.
public struct TerminalSize: Sendable, Equatable {
    public var rows: UInt32
    public var columns: UInt32
    /// A size of `rows` × `columns` cells (0 × 0: unknown, as a new pty starts).
    public init(rows: UInt32, columns: UInt32) {
        self.rows = rows
        self.columns = columns
    }
}

/// Request: RunEx's fields, preceded by the terminal's size. The command runs on a new
/// pseudo-terminal (its controlling terminal, as fds 0-2), always streamed: its output is
/// one stream, `Output` packets marked stdout. Until `RunFinished` the client may send
/// `Input`, `CloseInput`, `Signal`, `WindowSize` and `Exit`.
public struct RunTerminal<Stdin> {
    public static var id: PacketID { .runTerminal }
    /// The window size the terminal starts with.
    public var size: TerminalSize
    /// The command and everything else about the run; `stream` must be true.
    public var run: RunEx<Stdin>

    /// A terminal run of `run` in a window of `size`.
    public init(size: TerminalSize, run: RunEx<Stdin>) {
        self.size = size
        self.run = run
    }

    public static func decodeFields<R: WireReader>(
        from reader: inout R,
        stdin readStdin: (inout R, UInt64) throws(WireError) -> Stdin
    ) throws(WireError) -> RunTerminal {
        let size = TerminalSize(rows: try reader.readU32(), columns: try reader.readU32())
        return RunTerminal(size: size, run: try RunEx<Stdin>.decodeFields(from: &reader, stdin: readStdin))
    }
}

extension RunTerminal: Packet where Stdin: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeU32(size.rows)
        writer.writeU32(size.columns)
        run.encodeFields(to: &writer)
    }
}

extension RunTerminal: DecodablePacket where Stdin == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> RunTerminal {
        try decodeFields(from: &reader) { (reader, length) throws(WireError) in
            try reader.readBytes(field: "stdin", length: length)
        }
    }
}

extension RunTerminal: Equatable where Stdin: Equatable {}

/// Request during a terminal run, never answered: the client's window changed size (its
/// SIGWINCH). The agent sets the pty's size, and the kernel sends the command SIGWINCH.
/// Outside a terminal run it is read and ignored, as a late `Signal` is.
public struct WindowSize: DecodablePacket, Equatable {
    public static let id = PacketID.windowSize
    public var size: TerminalSize
    /// A WindowSize request for `size`.
    public init(size: TerminalSize) { self.size = size }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeU32(size.rows)
        writer.writeU32(size.columns)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> WindowSize {
        WindowSize(size: TerminalSize(rows: try reader.readU32(), columns: try reader.readU32()))
    }
}

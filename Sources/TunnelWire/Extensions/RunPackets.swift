// RunEx: a process with an environment, a time limit, and output streamed as it comes.

/// Where a RunEx child's environment starts, before `setEnvironment` applies.
public enum EnvironmentBase: UInt8, Sendable {
    /// The agent's own environment (what ProcessRun gives).
    case agent = 0
    case empty = 1
    /// As `su - user` sets it: HOME, USER, LOGNAME, SHELL and PATH of the user the command
    /// runs as (TERM kept); the working directory defaults to HOME.
    case login = 2
}

/// Request: run `command` (argv). With `stream`, output arrives in `Output` packets as the
/// child writes it and the client may send `Input`, `CloseInput` and `Signal` until
/// `RunFinished`; without, it is captured whole as ProcessRun does.
public struct RunEx<Stdin> {
    public static var id: PacketID { .runEx }
    /// The argv, as bytes; the program is looked up in the child's PATH.
    public var command: [[UInt8]]
    /// Where the child's environment starts.
    public var environment: EnvironmentBase
    /// `KEY=VALUE` sets, `KEY` alone removes, in order.
    public var setEnvironment: [[UInt8]]
    /// The user to run as (name or number); absent: the agent's.
    public var user: String?
    /// The group to run as (name or number); absent: the user's primary group.
    public var group: String?
    /// The child's umask as an octal string; absent: the agent's.
    public var umask: String?
    /// The working directory; absent: the agent's (or HOME with `.login`).
    public var cwd: [UInt8]?
    /// Milliseconds; 0 for none. Then SIGTERM to the process group, SIGKILL after `graceMilliseconds`.
    public var timeoutMilliseconds: UInt64
    /// How long after SIGTERM a timed-out process group gets before SIGKILL.
    public var graceMilliseconds: UInt64
    /// Whether output comes in `Output` packets as it is written (else captured whole).
    public var stream: Bool
    /// Captured runs: the whole of stdin (absent: /dev/null). Streamed runs: the first
    /// bytes of stdin; more follow in `Input` packets, and stdin stays open until `CloseInput`.
    public var stdin: Stdin?

    /// A RunEx request with these fields.
    public init(command: [[UInt8]], environment: EnvironmentBase = .agent, setEnvironment: [[UInt8]] = [],
                user: String? = nil, group: String? = nil, umask: String? = nil, cwd: [UInt8]? = nil,
                timeoutMilliseconds: UInt64 = 0, graceMilliseconds: UInt64 = 2000, stream: Bool = false,
                stdin: Stdin? = nil) {
        self.command = command
        self.environment = environment
        self.setEnvironment = setEnvironment
        self.user = user
        self.group = group
        self.umask = umask
        self.cwd = cwd
        self.timeoutMilliseconds = timeoutMilliseconds
        self.graceMilliseconds = graceMilliseconds
        self.stream = stream
        self.stdin = stdin
    }

    public static func decodeFields<R: WireReader>(
        from reader: inout R,
        stdin readStdin: (inout R, UInt64) throws(WireError) -> Stdin
    ) throws(WireError) -> RunEx {
        let command = try reader.readBytesList(field: "command")
        let base = try reader.readBigEndian(UInt8.self)
        let environment = EnvironmentBase(rawValue: base) ?? .agent
        if EnvironmentBase(rawValue: base) == nil {
            reader.reportInvalid(field: "environment", reason: "Unknown environment base \(base).")
        }
        return RunEx(command: command,
                     environment: environment,
                     setEnvironment: try reader.readBytesList(field: "set_environment"),
                     user: try reader.readOptionalString(field: "user"),
                     group: try reader.readOptionalString(field: "group"),
                     umask: try reader.readOptionalString(field: "umask"),
                     cwd: try reader.readOptionalBytes(field: "cwd"),
                     timeoutMilliseconds: try reader.readU64(),
                     graceMilliseconds: try reader.readU64(),
                     stream: try reader.readBool(),
                     stdin: try reader.readBool() ? try readStdin(&reader, try reader.readU64()) : nil)
    }
}

extension RunEx: Packet where Stdin: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBytesList(command)
        writer.writeBigEndian(environment.rawValue)
        writer.writeBytesList(setEnvironment)
        writer.writeOptionalString(user)
        writer.writeOptionalString(group)
        writer.writeOptionalString(umask)
        writer.writeOptionalBytes(cwd)
        writer.writeU64(timeoutMilliseconds)
        writer.writeU64(graceMilliseconds)
        writer.writeBool(stream)
        writer.writeOptionalPayload(stdin)
    }
}

extension RunEx: DecodablePacket where Stdin == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> RunEx {
        try decodeFields(from: &reader) { (reader, length) throws(WireError) in
            try reader.readBytes(field: "stdin", length: length)
        }
    }
}

extension RunEx: Equatable where Stdin: Equatable {}

/// Which of the child's outputs an `Output` packet carries.
public enum OutputStreamName: UInt8, Sendable {
    case stdout = 1
    case stderr = 2
}

/// Answer, streamed runs only: a piece of the child's output, in the order it was read.
public struct Output<Content> {
    public static var id: PacketID { .output }
    /// Which of the child's streams wrote it.
    public var stream: OutputStreamName
    /// The bytes, in the order the child wrote them (never empty).
    public var data: Content
    /// An Output packet with these fields.
    public init(stream: OutputStreamName, data: Content) {
        self.stream = stream
        self.data = data
    }
}

extension Output: Packet where Content: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeBigEndian(stream.rawValue)
        writer.writePayload(data)
    }
}

extension Output: DecodablePacket where Content == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Output {
        let stream = OutputStreamName(rawValue: try reader.readBigEndian(UInt8.self)) ?? .stdout
        return Output(stream: stream, data: try reader.readBytes(field: "data"))
    }
}

extension Output: Equatable where Content: Equatable {}

/// Answer: the run ended. `returncode` is the exit status, or -N for signal N.
/// `stdout` and `stderr` are present for captured runs only.
public struct RunFinished<Content> {
    public static var id: PacketID { .runFinished }
    /// The exit status, or -N when the process was killed by signal N.
    public var returncode: Int32
    /// The time limit fired (the process group was sent SIGTERM, then SIGKILL).
    public var timedOut: Bool
    /// The whole stdout of a captured run; absent for streamed runs.
    public var stdout: Content?
    /// The whole stderr of a captured run; absent for streamed runs.
    public var stderr: Content?
    /// A RunFinished answer with these fields.
    public init(returncode: Int32, timedOut: Bool, stdout: Content? = nil, stderr: Content? = nil) {
        self.returncode = returncode
        self.timedOut = timedOut
        self.stdout = stdout
        self.stderr = stderr
    }
}

extension RunFinished: Packet where Content: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeI32(returncode)
        writer.writeBool(timedOut)
        writer.writeOptionalPayload(stdout)
        writer.writeOptionalPayload(stderr)
    }
}

extension RunFinished: DecodablePacket where Content == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> RunFinished {
        RunFinished(returncode: try reader.readI32(),
                    timedOut: try reader.readBool(),
                    stdout: try reader.readOptionalBytes(field: "stdout"),
                    stderr: try reader.readOptionalBytes(field: "stderr"))
    }
}

extension RunFinished: Equatable where Content: Equatable {}

/// Request during a streamed run, never answered: bytes for the child's stdin.
/// Outside a streamed run (it raced the end) it is ignored.
public struct Input: DecodablePacket, Equatable {
    public static let id = PacketID.input
    /// Bytes for the child's stdin, written in order after what came before.
    public var data: [UInt8]
    /// An Input packet carrying `data`.
    public init(data: [UInt8]) { self.data = data }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeBytes(data) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Input {
        Input(data: try reader.readBytes(field: "data"))
    }
}

/// Request during a streamed run, never answered: the child's stdin reaches its end.
public struct CloseInput: DecodablePacket, Equatable {
    public static let id = PacketID.closeInput
    /// The request (no fields).
    public init() {}
    public func encodeFields<W: WireWriter>(to writer: inout W) {}
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> CloseInput { CloseInput() }
}

/// Request during a streamed run, never answered: send signal `number` to the child's
/// process group (Ctrl-C is SIGINT, as a terminal sends it).
public struct Signal: DecodablePacket, Equatable {
    public static let id = PacketID.signal
    /// The signal number (e.g. 2 for SIGINT), sent to the child's process group.
    public var number: Int32
    /// A Signal request for signal `number`.
    public init(number: Int32) { self.number = number }
    public func encodeFields<W: WireWriter>(to writer: inout W) { writer.writeI32(number) }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> Signal {
        Signal(number: try reader.readI32())
    }
}

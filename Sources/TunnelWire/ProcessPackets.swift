// Running a process: the request and its two answers.
// `stdin` and the captured output can be large, so their types are generic: `[UInt8]` in
// memory for clients and tests, a streamed payload (spool file) inside the agent.

/// Request: run `command` as argv (never through a shell).
public struct ProcessRun<Stdin> {
    public static var id: PacketID { .processRun }
    /// The argv; the program is looked up in the agent's PATH.
    public var command: [String]
    /// The whole of the child's stdin; absent: /dev/null.
    public var stdin: Stdin?
    /// Whether stdout and stderr come back in the answer; if not, both go to the agent's stderr.
    public var captureOutput: Bool
    /// The user to run as (name or number); absent: the agent's.
    public var user: String?
    /// The group to run as (name or number); absent: the user's primary group.
    public var group: String?
    /// The child's umask as an octal string; absent: the agent's.
    public var umask: String?
    /// The working directory; absent: the agent's.
    public var cwd: String?

    /// A ProcessRun request with these fields.
    public init(command: [String], stdin: Stdin? = nil, captureOutput: Bool = true,
                user: String? = nil, group: String? = nil, umask: String? = nil, cwd: String? = nil) {
        self.command = command
        self.stdin = stdin
        self.captureOutput = captureOutput
        self.user = user
        self.group = group
        self.umask = umask
        self.cwd = cwd
    }

    /// Reads the fields after the id; `readStdin` consumes the `stdin` content (whose
    /// length is given) in whatever form the caller wants it.
    public static func decodeFields<R: WireReader>(
        from reader: inout R,
        stdin readStdin: (inout R, UInt64) throws(WireError) -> Stdin
    ) throws(WireError) -> ProcessRun {
        let command = try reader.readStringList(field: "command")
        let stdin: Stdin? = try reader.readBool() ? try readStdin(&reader, try reader.readU64()) : nil
        return ProcessRun(command: command,
                          stdin: stdin,
                          captureOutput: try reader.readBool(),
                          user: try reader.readOptionalString(field: "user"),
                          group: try reader.readOptionalString(field: "group"),
                          umask: try reader.readOptionalString(field: "umask"),
                          cwd: try reader.readOptionalString(field: "cwd"))
    }
}

extension ProcessRun: Packet where Stdin: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeStringList(command)
        writer.writeOptionalPayload(stdin)
        writer.writeBool(captureOutput)
        writer.writeOptionalString(user)
        writer.writeOptionalString(group)
        writer.writeOptionalString(umask)
        writer.writeOptionalString(cwd)
    }
}

extension ProcessRun: DecodablePacket where Stdin == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ProcessRun {
        try decodeFields(from: &reader) { (reader, length) throws(WireError) in
            try reader.readBytes(field: "stdin", length: length)
        }
    }
}

extension ProcessRun: Equatable where Stdin: Equatable {}

/// Answer: the process ran. Output is absent unless captured.
public struct ProcessCompleted<Output> {
    public static var id: PacketID { .processCompleted }
    /// The child's whole stdout, when captured.
    public var stdout: Output?
    /// The child's whole stderr, when captured.
    public var stderr: Output?
    /// The exit status, or -N when the process was killed by signal N.
    public var returncode: Int32

    /// A ProcessCompleted answer with these fields.
    public init(stdout: Output?, stderr: Output?, returncode: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = returncode
    }
}

extension ProcessCompleted: Packet where Output: WirePayload {
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeOptionalPayload(stdout)
        writer.writeOptionalPayload(stderr)
        writer.writeI32(returncode)
    }
}

extension ProcessCompleted: DecodablePacket where Output == [UInt8] {
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ProcessCompleted {
        ProcessCompleted(stdout: try reader.readOptionalBytes(field: "stdout"),
                         stderr: try reader.readOptionalBytes(field: "stderr"),
                         returncode: try reader.readI32())
    }
}

extension ProcessCompleted: Equatable where Output: Equatable {}

/// Answer: the child's set-up failed after the agent forked it.
public struct ProcessError: DecodablePacket, Equatable {
    public static let id = PacketID.processError
    /// Why the process could not run (the reference's wording).
    public var message: String
    /// A ProcessError answer with `message`.
    public init(message: String) { self.message = message }
    public func encodeFields<W: WireWriter>(to writer: inout W) {
        writer.writeString(message)
    }
    public static func decodeFields<R: WireReader>(from reader: inout R) throws(WireError) -> ProcessError {
        ProcessError(message: try reader.readString(field: "message"))
    }
}

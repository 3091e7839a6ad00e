#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TunnelWire

/// The transport: a child process (`ssh host ./tunnel-dispatcher`, `docker exec -i ...`, or
/// the agent itself) whose stdin/stdout carry the protocol. Its stderr stays ours.
final class Transport {
    let command: [String]
    let pid: pid_t
    let input: FDReader
    let output: FDWriter
    /// The terminal's foreground, lent to the transport while it starts (see TransportProcessGroup).
    let terminalLoan: TerminalLoan?

    init(command: [String]) throws(TunnelError) {
        guard !command.isEmpty else { throw .transport("empty transport command") }
        self.command = command
        // Close-on-exec from the start: our ends must not leak into other children of this
        // process, not even one another thread starts right now.
        guard case .success(let toChildPipe) = closeOnExecPipe() else {
            throw .transport("pipe: " + String(cString: strerror(errno)))
        }
        guard case .success(let fromChildPipe) = closeOnExecPipe() else {
            close(toChildPipe.read)
            close(toChildPipe.write)
            throw .transport("pipe: " + String(cString: strerror(errno)))
        }
        let toChild = [toChildPipe.read, toChildPipe.write]
        let fromChild = [fromChildPipe.read, fromChildPipe.write]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        // The transport starts with default signal dispositions and nothing blocked, whatever
        // this thread had: `terminate()` must reach it (a Swift concurrency thread may block
        // signals, and a blocked SIGTERM would be inherited).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var nothing = sigset_t()
        sigemptyset(&nothing)
        posix_spawnattr_setsigmask(&attributes, &nothing)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // In a process group of its own, so that the terminal's Ctrl-C reaches tunnel alone.
        let groupFlags = TransportProcessGroup.isolate(&attributes)
        posix_spawnattr_setflags(&attributes, Int16(Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) | groupFlags))
        let arguments = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, command[0], &actions, &attributes, arguments, environ)
        close(toChild[0])
        close(fromChild[1])
        guard result == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw .transport("cannot start \(command[0]): " + String(cString: strerror(result)))
        }
        signal(SIGPIPE, SIG_IGN)   // a vanished agent must be an error, not our death
        pid = child
        terminalLoan = TransportProcessGroup.started(child)
        input = FDReader(fd: fromChild[0])
        output = FDWriter(fd: toChild[1])
    }

    /// Ends the transport command at once (SIGTERM), from any thread: whatever is waiting on
    /// it fails as a vanished transport would. For cancellation.
    func terminate() {
        _ = kill(pid, SIGTERM)
    }

    /// Closes our ends and waits: the agent's exit status (-N for signal N). Without
    /// `flushing`, unsent bytes are dropped: the agent sees its packet cut short.
    func finish(flushing: Bool = true) -> Int32 {
        output.close(flushing: flushing)
        input.close()
        terminalLoan?.end()
        let status = waitForExit(pid)
        TransportProcessGroup.ended(pid)
        if status & 0x7f != 0 { return -(status & 0x7f) }
        return (status >> 8) & 0xff
    }
}

/// Reads the agent's answers from a pipe, through a buffer.
final class FDReader: WireReader {
    private(set) var fd: Int32
    /// A raw buffer, not an array: each field of each answer is read through `read(into:)`,
    /// and an array's access checks and reference counting were a tenth of a sync's CPU.
    private let buffer: UnsafeMutableRawPointer
    private let capacity = 256 * 1024
    private var start = 0
    private var end = 0
    var limits = WireLimits.client
    private(set) var invalidField: (field: String, reason: String)?

    init(fd: Int32) {
        self.fd = fd
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func reportInvalid(field: String, reason: String) {
        if invalidField == nil { invalidField = (field, reason) }
    }

    var hasBufferedBytes: Bool { end > start }

    func takeInvalidField() -> (field: String, reason: String)? {
        defer { invalidField = nil }
        return invalidField
    }

    func read(into destination: UnsafeMutableRawBufferPointer) throws(WireError) {
        // Most fields are a few bytes that the buffer holds already: one copy.
        var position = start
        if destination.count <= end - position {
            if let target = destination.baseAddress { target.copyMemory(from: buffer + position, byteCount: destination.count) }
            start = position + destination.count
            return
        }
        var done = 0
        var limit = end
        while done < destination.count {
            if position == limit {
                let got = retryingInterrupts { [buffer, capacity, fd] in systemRead(fd, buffer, capacity) }
                if got < 0 { start = position; throw .io(errno) }
                if got == 0 { start = position; throw .truncated }
                position = 0
                limit = got
                end = got
            }
            let piece = min(limit - position, destination.count - done)
            (destination.baseAddress! + done).copyMemory(from: buffer + position, byteCount: piece)
            position += piece
            done += piece
        }
        start = position
    }

    /// One line, without its newline (at most `maximum` bytes of it); nil when the stream
    /// ends before its first byte.
    /// Byte by byte from the buffer: what follows the line stays for the protocol.
    func readLine(maximum: Int) throws(WireError) -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            do throws(WireError) {
                try withUnsafeMutableBytes(of: &byte) { (raw) throws(WireError) in try read(into: raw) }
            } catch .truncated where line.isEmpty {
                return nil
            }
            if byte == UInt8(ascii: "\n") { return line }
            guard line.count < maximum else { return line }   // not a line of the snippet's
            line.append(byte)
        }
    }

    func close() {
        if fd >= 0 { _ = systemClose(fd) }
        fd = -1
    }
}

/// Writes requests into a pipe, through a buffer; `flush()` after each request.
final class FDWriter: WireWriter {
    private var fd: Int32
    private var buffer: [UInt8] = []
    /// The first write error; later writes are dropped and `flush` reports it.
    private(set) var failure: Int32?

    /// While set, nothing is written, not even a full buffer: the first packets wait for the
    /// bootstrap, which decides how they leave (`TunnelConnection.finishStart`).
    var holding = false

    init(fd: Int32) { self.fd = fd }

    func write(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 256 * 1024 && !holding { flush() }
    }

    /// The bytes held (`holding`), taken out of the buffer; writing goes on as usual.
    func releaseHeld() -> [UInt8] {
        holding = false
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    func flush() {
        guard !holding else { return }
        guard failure == nil else { buffer.removeAll(); return }
        var done = 0
        buffer.withUnsafeBytes { raw in
            while done < raw.count {
                let written = retryingInterrupts { systemWrite(fd, raw.baseAddress! + done, raw.count - done) }
                if written < 0 { failure = errno; return }
                done += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// A payload that cannot complete (a `FileContent` whose file shrank) records why; the
    /// connection then abandons the session rather than send anything more.
    func abandon(reason: String) {
        if failure == nil { failure = EIO }
        buffer.removeAll()
    }

    func close(flushing: Bool = true) {
        if flushing { flush() }
        buffer.removeAll()
        if fd >= 0 { _ = systemClose(fd) }
        fd = -1
    }
}

/// Content read from a file descriptor as it is sent (a streamed Upload): `byteCount`
/// bytes, which the caller knows (from fstat) before sending. If the file yields fewer, the
/// rest is not invented: writing stops, `failure` says why, and the caller abandons the
/// connection so that the agent sees the packet cut short and keeps the old file.
public final class FileContent: WirePayload {
    /// The file to read from, at its current offset; the caller keeps it open and closes it.
    public let fd: Int32
    /// Exactly how many bytes the packet declares and will carry.
    public let byteCount: UInt64
    /// Why the file yielded fewer bytes than declared (a read error or an early end); nil while all is well.
    public private(set) var failure: String?
    /// Told the number of bytes sent so far, after each piece (a progress display).
    public var progress: ((UInt64) -> Void)?

    /// `byteCount` bytes of `fd`, which the caller knows (from fstat) before sending.
    public init(fd: Int32, byteCount: UInt64) {
        self.fd = fd
        self.byteCount = byteCount
    }

    /// Reads and writes the content piece by piece; stops, recording `failure` and abandoning
    /// the packet, if the file ends early.
    public func writeContent<W: WireWriter>(to writer: inout W) {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        var remaining = byteCount
        while remaining > 0 {
            let want = Int(min(remaining, UInt64(chunk.count)))
            let got = retryingInterrupts { chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, want) } }
            if got <= 0 {
                let reason = got < 0 ? String(cString: strerror(errno)) : "the file shrank while being sent"
                failure = reason
                // The length prefix is out: the writer must not let the packet look whole.
                writer.abandon(reason: reason)
                return
            }
            chunk.withUnsafeBytes { writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            remaining -= UInt64(got)
            progress?(byteCount - remaining)
        }
    }
}

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TunnelClient
import TunnelWire

/// tunnel's own failures (transport, protocol, local I/O), as ssh reports its own: 255.
let ownFailure: Int32 = 255

/// Runs `body`; a TunnelError becomes a message on stderr and the documented exit status.
func report<T>(_ body: () throws(TunnelError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw report(error)
    }
}

/// `error` as a message on stderr; the exit status to throw.
func report(_ error: TunnelError) -> ExitCode {
    writeError("tunnel: \(displayedMessage(plainMessage(for: error)))\n")
    return ExitCode(exitStatus(for: error))
}

/// The exit table of `tunnel --help`: 1 for what is missing or refused on the target (a
/// file, a user, a group), 2 for a value the agent rejected as malformed, 255 for tunnel's own
/// failures.
func exitStatus(for error: TunnelError) -> Int32 {
    switch error {
    case .remoteOSError, .processError, .commandNotStarted, .refused: return 1
    // The reference answers some missing files, users and groups with InvalidField: still
    // what is missing on the target.
    case .invalidField(let field) where isMissingOnTarget(field): return 1
    case .invalidField: return 2
    // A destination that Route cannot read (a leading dash, a port that is not a number): usage.
    case .transport(let message) where message.hasPrefix("--ssh"): return 2
    default: return ownFailure
    }
}

/// The reference answers a missing file ("[Errno 2] ..."), user, group or folder ("... does
/// not exist") with InvalidField, as it answers a malformed value: told apart by the text,
/// which the 23 original packets keep byte for byte.
private func isMissingOnTarget(_ field: InvalidField) -> Bool {
    let message = field.errorMessage
    return message.hasPrefix("[Errno ") || message.contains("does not exist") || message.contains("doesn't exist")
}

/// What util-linux's and shadow's nologin print, word for word.
private let nologinGreeting = "This account is currently not available."

/// The number in the reference's "The user with the name '1000' does not exist.", when it is one.
private func numericName(in message: String) -> String? {
    for kind in ["user", "group"] {
        let prefix = "The \(kind) with the name '", suffix = "' does not exist."
        guard message.hasPrefix(prefix), message.hasSuffix(suffix) else { continue }
        let value = message.dropFirst(prefix.count).dropLast(suffix.count)
        if !value.isEmpty && value.allSatisfy(\.isASCII) && value.allSatisfy(\.isNumber) { return String(value) }
    }
    return nil
}

/// The message after `tunnel: `, in plain words: a missing file is the agent's OSError in
/// GNU's wording ("remote: '/x': No such file or directory"), not "an invalid value for
/// field 'file'"; other refused values name the option they came from.
func plainMessage(for error: TunnelError) -> String {
    if case .transport(let message) = error, message.contains(nologinGreeting) {
        // nologin(8) prints its line where the bootstrap expects the agent: that is no chatty
        // startup file, the account may not run commands at all.
        return "transport: the account's login shell is nologin (\"\(nologinGreeting)\"): it cannot run "
            + "commands; reach the host as another user, or give this one a shell (usermod -s /bin/sh)"
    }
    guard case .invalidField(let field) = error else { return error.description }
    if field.errorMessage.hasPrefix("[Errno ") { return "remote: " + TunnelWire.OSError.plainText(of: field.errorMessage) }
    if let id = numericName(in: field.errorMessage) {
        // fora's packets (ProcessRun, Upload) take only ids with an entry; never call it a name.
        let kind = field.errorMessage.hasPrefix("The group") ? "group with gid" : "user with uid"
        return "\(field.field): no \(kind) \(id) on the target (fora's packets need an entry; the extensions do not)"
    }
    let option = ["file": "path", "cwd": "--cwd", "umask": "--umask", "mode": "mode", "owner": "owner"][field.field]
    return "\(option ?? field.field): \(field.errorMessage)"
}

/// A local failure of tunnel itself: the message, then exit 255.
func localFailure(_ what: String, _ code: Int32 = errno) -> ExitCode {
    // `what` may name a path made of the target's names (download -r): escaped on a terminal.
    let reason = String(cString: strerror(code))
    writeError("tunnel: \(displayedMessage(what)): \(reason)\n")
    return ExitCode(ownFailure)
}

func writeError(_ text: String) {
    var copy = text
    copy.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

/// Writes everything to `fd`; a failed write (ENOSPC, /dev/full) is a failure of tunnel,
/// never silent. Standard output fails as GNU tools do (`emit`).
func writeOut(_ bytes: [UInt8], to fd: Int32 = 1, name: String = "standard output") throws {
    if fd == 1 { return emit(bytes) }
    let failure = bytes.withUnsafeBytes { writeFully($0, to: fd) }
    if failure != 0 { throw localFailure("writing \(name)", failure) }
}

/// Writes a result to standard output, unbuffered, in order with everything else written so.
/// As GNU tools: a reader that went away (`| head -1`, EPIPE) ends tunnel silently by SIGPIPE
/// (the shell sees 141); any other failure (a full disk, /dev/full) is "write error" and
/// exit 1. Either way tunnel ends at once: its transport closes, and the agent ends a
/// running command with it.
func emit(_ bytes: [UInt8]) {
    let failure = bytes.withUnsafeBytes { writeFully($0, to: 1) }
    if failure != 0 { endOnFailedStandardOutput(failure) }
}

/// Ends tunnel as GNU tools end when a write to standard output fails with `failure`:
/// EPIPE silently by SIGPIPE, anything else with "write error" and exit 1.
func endOnFailedStandardOutput(_ failure: Int32) -> Never {
    // The agent may still be sending (a download, a command's output): ended first, it
    // cannot add its own broken pipe to our stderr after we are gone.
    endTransportAtOnce()
    if failure == EPIPE {
        signal(SIGPIPE, SIG_DFL)
        raise(SIGPIPE)
    }
    writeError("tunnel: write error: \(String(cString: strerror(failure)))\n")
    exit(1)
}

/// `text` and a newline on standard output (`emit`).
func emitLine(_ text: String) {
    emit(Array((text + "\n").utf8))
}

// writeFully (write(2) until every byte is out) is TunnelClient's (SyncLocalFiles.swift).

/// Reads `fd` to its end, handing each piece to `body`; a read error is a failure of
/// tunnel, named after `name`.
func forEachChunk(of fd: Int32, name: String, _ body: ([UInt8]) throws -> Void) throws {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if got < 0 && errno == EINTR { continue }
        if got < 0 { throw localFailure(name) }
        if got == 0 { return }
        try body(Array(chunk[0..<got]))
    }
}

/// A JSON object with keys in the given order (stable for scripts); values are already JSON.
/// A field of what `stat`, `user` and `group` print.
enum RecordValue {
    case text(String)
    /// A decimal integer: bare in JSON.
    case number(String)
    /// Comma-separated in a line, an array in JSON.
    case list([String])

    static func number<Integer: BinaryInteger>(_ value: Integer) -> RecordValue { .number("\(value)") }
}

/// Prints `fields` as one JSON object (`--json`), or as the readable key=value lines.
func printRecord(_ fields: [(key: String, value: RecordValue)], json: Bool) {
    if json {
        let members = fields.map { field -> String in
            switch field.value {
            case .text(let text): return "\(jsonString(field.key)): \(jsonString(text))"
            case .number(let digits): return "\(jsonString(field.key)): \(digits)"
            case .list(let values): return "\(jsonString(field.key)): \(jsonArray(values))"
            }
        }
        emitLine("{" + members.joined(separator: ", ") + "}")
    } else {
        emitLine(fields.map { field -> String in
            switch field.value {
            case .text(let text), .number(let text): return "\(field.key)=\(displayed(text, on: 1))"
            case .list(let values): return "\(field.key)=\(displayed(values.joined(separator: ","), on: 1))"
            }
        }.joined(separator: "\n"))
    }
}

func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            // C0 and C1 controls and DEL: a JSON reader gets them back, a terminal never sees them.
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                result += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

func jsonArray(_ values: [String]) -> String { "[" + values.map(jsonString).joined(separator: ", ") + "]" }

/// Python's repr quoting of a simple name, as the agent's OSError messages use it.
func pythonQuoted(_ text: String) -> String { text.contains("'") ? "\"\(text)\"" : "'\(text)'" }

/// The process umask (read by setting it and setting it back).
func currentUmask() -> mode_t {
    let mask = umask(0o022)
    umask(mask)
    return mask
}

import CPosix
import TunnelWire

/// `--log`: one line per request, with its name, the paths it named, its result (or errno),
/// the bytes it carried each way, and the peer ssh names in SSH_CLIENT. Never file contents,
/// stdin data, environment values or password hashes: nothing but the fields below is ever
/// written. Exists only with `--log`; without it, no code here runs.
final class AuditLog {
    enum Sink {
        /// stderr or an append-only file: each line one write(2), with a time and the ident.
        case stream(Int32)
        /// syslog(3) to /dev/log, ident `tunnel-dispatcher`, the chosen facility.
        case syslog
    }

    private let sink: Sink
    /// ` peer=ADDRESS:PORT`, or empty when not started by sshd.
    private let peer: String
    /// The paths of the request being answered, as ` field="…"`.
    private var paths = ""
    /// Payload bytes the input had delivered when the request began.
    private var payloadBytesAtStart: UInt64 = 0
    /// Set when the policy refused the request being answered.
    var restriction: Restriction?

    init(sink: Sink, sshClient: String?) {
        self.sink = sink
        peer = AuditLog.peer(from: sshClient)
    }

    /// A request begins (before its fields are read).
    func begin(payloadBytes: UInt64) {
        paths = ""
        restriction = nil
        payloadBytesAtStart = payloadBytes
    }

    /// A path field of the request (only names, never contents).
    func note(field: String, path: [UInt8]) {
        paths += " " + field + "=" + AuditLog.quoted(path)
    }

    /// The request's answer is known: writes its line.
    func record(_ id: PacketID, answer: Answer, payloadBytes: UInt64) {
        var sent: UInt64 = 0
        let result: String
        if let restriction {
            result = "refused(" + restriction.optionName + ")"
        } else {
            switch answer {
            case .refused(.osError(let error, _)): result = "OSError(" + String(error.code) + ")"
            case .refused(.invalidField(let field, _)): result = "InvalidField(" + field + ")"
            case .refused(.processError): result = "ProcessError"
            case .refused(.refusedByPolicy): result = "refused"
            case .processCompleted(let completed):
                result = "exit(" + String(completed.returncode) + ")"
                sent = (completed.stdout?.byteCount ?? 0) + (completed.stderr?.byteCount ?? 0)
            case .downloadedContent(let spool):
                result = "ok"
                sent = spool.byteCount
            case .downloadedFile(let file):
                result = "ok"
                sent = file.byteCount
            case .uploadPending: result = "pending"       // --durable: answered with its group
            case .runFinished(let finished):
                result = (finished.timedOut ? "timeout(" : "exit(") + String(finished.returncode) + ")"
                // A streamed run's output went out as Output packets, not counted here.
                sent = (finished.stdout?.byteCount ?? 0) + (finished.stderr?.byteCount ?? 0)
            case .run: result = "abandoned"              // ended without an answer (client gone, Exit)
            default: result = "ok"
            }
        }
        let received = payloadBytes &- payloadBytesAtStart
        write(id.requestName + paths + " result=" + result + " in=" + String(received) + " out=" + String(sent) + peer)
    }

    private func write(_ line: String) {
        switch sink {
        case .syslog:
            line.withCString { tp_syslog_info($0) }
        case .stream(let fd):
            var stamp = [CChar](repeating: 0, count: 32)
            tp_utc_timestamp(&stamp, stamp.count)
            var text = stampText(stamp) + " tunnel-dispatcher[" + String(getpid()) + "]: " + line + "\n"
            // One write: lines from several agents appending to one file do not interleave.
            // A log that cannot be written is not a reason to stop serving.
            text.withUTF8 { try? writeFully(fd: fd, UnsafeRawBufferPointer($0)) }
        }
    }

    private func stampText(_ stamp: [CChar]) -> String {
        stamp.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `SSH_CLIENT` is "ADDRESS PORT LOCALPORT": the peer is ADDRESS:PORT.
    static func peer(from sshClient: String?) -> String {
        guard let sshClient else { return "" }
        let words = sshClient.utf8.split(separator: UInt8(ascii: " "))
        guard words.count >= 2 else { return "" }
        return " peer=" + quoted(Array(words[0]) + [UInt8(ascii: ":")] + Array(words[1]))
    }

    /// Printable ASCII as it is; quotes, backslashes and every other byte (newlines, control
    /// characters, non-ASCII) as \xHH, so that no path can forge a line or a field.
    static func quoted(_ bytes: [UInt8]) -> String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

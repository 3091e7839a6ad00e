#if canImport(Glibc)
import Glibc
#endif
import TunnelWire

// Text that came from the target (names, owners, link targets, error text) is hostile input:
// a name holding an escape sequence could retitle the window, hide a line, or type into the
// terminal. Shown on a terminal, it is escaped as GNU `ls -b` escapes names: C0 and C1
// controls and DEL as \n, \t... or \ooo octal, bytes that are not UTF-8 as \ooo, and in
// names the backslash itself as \\ so that a listing reads back unambiguously (messages keep
// theirs: the agent's own quoting, '\x1b', stays readable). Into a pipe or a file
// the bytes pass as they are (scripts get the real names), as with ls. `--json` escapes
// always (`jsonString`).

/// Whether output to `fd` is shown on a terminal (checked once per descriptor).
func isTerminal(_ fd: Int32) -> Bool {
    switch fd {
    case 1: return standardOutputIsTerminal
    case 2: return standardErrorIsTerminal
    default: return isatty(fd) != 0
    }
}

private let standardOutputIsTerminal = isatty(1) != 0
private let standardErrorIsTerminal = isatty(2) != 0

/// A name (or a link target, an owner) as it may be written to `fd`: escaped when it is a terminal.
func displayed(_ bytes: [UInt8], on fd: Int32) -> [UInt8] {
    isTerminal(fd) ? escapedControls(bytes) : bytes
}

/// A name as it may be written to `fd`: escaped when it is a terminal.
func displayed(_ text: String, on fd: Int32) -> String {
    isTerminal(fd) ? String(decoding: escapedControls(Array(text.utf8)), as: UTF8.self) : text
}

/// A message holding text from the target, for stderr: escaped when it is a terminal.
func displayedMessage(_ text: String) -> String {
    isTerminal(2) ? String(decoding: escapedControls(Array(text.utf8), backslash: false), as: UTF8.self) : text
}

/// Control characters, DEL, C1 controls and bytes that are not UTF-8 as C escapes; printable
/// text (any script) as it is.
func escapedControls(_ bytes: [UInt8], backslash: Bool = true) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        let length = utf8SequenceLength(bytes, at: index)
        if length == 0 {   // not UTF-8: shown by value
            result += octalEscape(byte)
            index += 1
        } else if length == 1 {
            result += byte == UInt8(ascii: "\\") && !backslash ? [byte] : escapedASCII(byte)
            index += 1
        } else if byte == 0xC2 && bytes[index + 1] < 0xA0 {   // U+0080-U+009F: C1 controls (CSI is U+009B)
            result += octalEscape(byte) + octalEscape(bytes[index + 1])
            index += 2
        } else {
            result += bytes[index..<index + length]
            index += length
        }
    }
    return result
}

private func escapedASCII(_ byte: UInt8) -> [UInt8] {
    let named: [UInt8: UInt8] = [0x07: UInt8(ascii: "a"), 0x08: UInt8(ascii: "b"), 0x09: UInt8(ascii: "t"),
                                 0x0A: UInt8(ascii: "n"), 0x0B: UInt8(ascii: "v"), 0x0C: UInt8(ascii: "f"),
                                 0x0D: UInt8(ascii: "r"), 0x5C: UInt8(ascii: "\\")]
    if let letter = named[byte] { return [UInt8(ascii: "\\"), letter] }
    if byte < 0x20 || byte == 0x7F { return octalEscape(byte) }
    return [byte]
}

private func octalEscape(_ byte: UInt8) -> [UInt8] {
    [UInt8(ascii: "\\"), UInt8(ascii: "0") + byte >> 6, UInt8(ascii: "0") + (byte >> 3) & 7, UInt8(ascii: "0") + byte & 7]
}

/// The length of the well-formed UTF-8 sequence at `index` (1 for ASCII), 0 when the bytes
/// there are not one (a stray continuation, an overlong form, a surrogate, a cut-off end).
private func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
    let sequence = bytes.withUnsafeBytes { utf8Sequence($0, at: index) }
    if case .valid(let length) = sequence { return length }
    return 0
}

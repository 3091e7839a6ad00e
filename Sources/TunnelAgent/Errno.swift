import CPosix
import TunnelWire

/// An errno value with the wording the reference sends: glibc's, even when the agent is
/// linked against musl (whose texts differ for ELOOP, ENAMETOOLONG, ...).
public struct Errno: Error, Equatable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }

    /// errno as the last failed libc call left it.
    static var current: Errno { Errno(tp_errno()) }

    static let interrupted = Errno(EINTR)
    static let noEntry = Errno(ENOENT)

    /// glibc's `strerror(code)`.
    public var strerror: String {
        if code >= 0 && Int(code) < glibcErrorMessages.count {
            return glibcErrorMessages[Int(code)].description
        }
        return "Unknown error \(code)"
    }

    /// Python's `str(OSError(code, strerror, path))`:
    /// `[Errno 2] No such file or directory: '/x'`, or without `: ...` when no path.
    public func pythonMessage(path: String? = nil) -> String {
        let base = "[Errno \(code)] \(strerror)"
        guard let path else { return base }
        return base + ": " + pythonRepr(path)
    }
}

/// Retries `body` while it fails with EINTR, the one place that does so. Returns the
/// non-negative result or throws errno.
@inline(__always)
func retryingInterrupts<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds `'` and no `"`;
/// backslash escapes for `\`, the quote, `\n`, `\r`, `\t` and non-printable code points.
public func pythonRepr(_ text: String) -> String {
    let quote: Unicode.Scalar = (text.contains("'") && !text.contains("\"")) ? "\"" : "'"
    var result = String(Character(quote))
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case quote: result += "\\" + String(Character(quote))
        default:
            if isPythonPrintable(scalar.value) {
                result.unicodeScalars.append(scalar)
            } else if scalar.value < 0x100 {
                result += "\\x" + hexDigits(scalar.value, width: 2)
            } else if scalar.value < 0x10000 {
                result += "\\u" + hexDigits(scalar.value, width: 4)
            } else {
                result += "\\U" + hexDigits(scalar.value, width: 8)
            }
        }
    }
    result.unicodeScalars.append(quote)
    return result
}

func isPythonPrintable(_ codePoint: UInt32) -> Bool {
    if codePoint >= 0x20 && codePoint < 0x7F { return true }
    var low = 0
    var high = nonPrintableRanges.count
    while low < high {
        let middle = (low + high) / 2
        let (first, last) = nonPrintableRanges[middle]
        if codePoint < first { high = middle } else if codePoint > last { low = middle + 1 } else { return false }
    }
    return true
}

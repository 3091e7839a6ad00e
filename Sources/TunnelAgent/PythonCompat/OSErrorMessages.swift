import TunnelWire

// The reference's wording of errors, which fora's client shows its users and tests compare.

extension Errno {
    /// glibc's `strerror(code)`, as Python prints it on a glibc host, even when the agent is
    /// linked against musl (whose texts differ for ELOOP, ENAMETOOLONG, ...).
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

/// The InvalidField reason for a path or name holding a NUL byte (which no C call takes).
let nulByteMessage = "The value contains a NUL byte."

/// "Invalid value '<value>': Must be in octal format." — the reference's message for a bad
/// `umask` or `mode`.
func octalFormatMessage(_ value: String) -> String {
    "Invalid value '\(value)': Must be in octal format."
}

/// Python's `repr()` of a string: single quotes unless the text holds `'` and no `"`;
/// backslash escapes for `\`, the quote, `\n`, `\r`, `\t` and non-printable code points.
public func pythonRepr(_ text: String) -> String {
    // Bytes and scalars, never Characters: see CodePointEquality.swift.
    let quote: Unicode.Scalar = (text.utf8.contains(UInt8(ascii: "'")) && !text.utf8.contains(UInt8(ascii: "\""))) ? "\"" : "'"
    var result = ""
    result.unicodeScalars.append(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case quote:
            result += "\\"
            result.unicodeScalars.append(quote)
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

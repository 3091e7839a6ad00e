/// The result of parsing a string the way Python's `int(text, base)` does.
enum PythonInt: Equatable {
    case value(Int64)
    /// Syntactically valid but beyond Int64 (Python would accept it; the C call would not).
    case outOfRange
    case invalid

    /// Python's `int(text, 8)` (with `octal: true`) or `int(text)`: surrounding whitespace,
    /// an optional sign, for octal an optional `0o`/`0O` prefix, digits with single
    /// underscores between them (and, as Python allows, right after the prefix).
    /// Deviation: ASCII digits only (Python also takes other Unicode decimal digits).
    init(parsing text: String, octal: Bool) {
        var scalars = Array(text.unicodeScalars)
        while let first = scalars.first, isPythonWhitespace(first) { scalars.removeFirst() }
        while let last = scalars.last, isPythonWhitespace(last) { scalars.removeLast() }
        var index = 0
        var negative = false
        if index < scalars.count, scalars[index] == "+" || scalars[index] == "-" {
            negative = scalars[index] == "-"
            index += 1
        }
        var underscoreAllowed = false
        if octal, scalars.count - index >= 2, scalars[index] == "0", scalars[index + 1] == "o" || scalars[index + 1] == "O" {
            index += 2
            underscoreAllowed = true
        }
        let base: UInt64 = octal ? 8 : 10
        var magnitude: UInt64 = 0
        var overflow = false
        var digits = 0
        var previousWasUnderscore = false
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "_" {
                guard underscoreAllowed, !previousWasUnderscore else { self = .invalid; return }
                previousWasUnderscore = true
                continue
            }
            guard scalar.value >= 0x30, scalar.value < 0x30 + UInt32(base) else { self = .invalid; return }
            let (times, overflowA) = magnitude.multipliedReportingOverflow(by: base)
            let (plus, overflowB) = times.addingReportingOverflow(UInt64(scalar.value - 0x30))
            overflow = overflow || overflowA || overflowB
            magnitude = plus
            digits += 1
            underscoreAllowed = true
            previousWasUnderscore = false
        }
        guard digits > 0, !previousWasUnderscore else { self = .invalid; return }
        if overflow || magnitude > UInt64(Int64.max) + (negative ? 1 : 0) {
            self = .outOfRange
        } else if negative {
            self = .value(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        } else {
            self = .value(Int64(magnitude))
        }
    }
}

/// The characters Python's `str.strip()` (and so `int()`) treats as whitespace.
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// "Invalid value '<value>': Must be in octal format." — the reference's message for a bad
/// `umask` or `mode`.
func octalFormatMessage(_ value: String) -> String {
    "Invalid value '\(value)': Must be in octal format."
}

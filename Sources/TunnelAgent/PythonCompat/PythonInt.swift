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
        // Trimmed by moving two indices: linear, whatever the amount of whitespace.
        let all = Array(text.unicodeScalars)
        var first = 0
        var end = all.count
        while first < end, isPythonWhitespace(all[first]) { first += 1 }
        while end > first, isPythonWhitespace(all[end - 1]) { end -= 1 }
        let scalars = all[first..<end]
        var index = first
        var negative = false
        if index < end, scalars[index] == "+" || scalars[index] == "-" {
            negative = scalars[index] == "-"
            index += 1
        }
        var underscoreAllowed = false
        if octal, end - index >= 2, scalars[index] == "0", scalars[index + 1] == "o" || scalars[index + 1] == "O" {
            index += 2
            underscoreAllowed = true
        }
        let base: UInt64 = octal ? 8 : 10
        var magnitude: UInt64 = 0
        var overflow = false
        var digits = 0
        var previousWasUnderscore = false
        while index < end {
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

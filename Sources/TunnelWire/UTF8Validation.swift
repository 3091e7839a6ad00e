/// Strict UTF-8 validation with the rules of Python's `bytes.decode('utf-8')`:
/// no overlong forms, no surrogates, nothing above U+10FFFF.
/// Returns nil when valid, else a description of the first offending byte.
public func utf8Problem(_ bytes: UnsafeRawBufferPointer) -> String? {
    var index = 0
    while index < bytes.count {
        switch utf8Sequence(bytes, at: index) {
        case .valid(let length): index += length
        case .invalidStart:
            return "invalid start byte 0x\(hexDigits(UInt32(bytes[index]), width: 2)) at position \(index)"
        case .cutShort: return "unexpected end of data at position \(index)"
        case .invalidContinuation(let position): return "invalid continuation byte at position \(position)"
        }
    }
    return nil
}

/// What starts at one position of a byte string, for UTF-8.
public enum UTF8Sequence: Equatable {
    /// A well-formed sequence of this many bytes (1 for ASCII).
    case valid(Int)
    /// A byte that cannot start a sequence (a continuation byte, 0xC0, 0xC1, 0xF5...).
    case invalidStart
    /// The bytes end before the sequence does.
    case cutShort
    /// The byte at this position does not continue the sequence.
    case invalidContinuation(Int)
}

/// The UTF-8 sequence at `index`, by RFC 3629's table (the second byte's range depends on
/// the first: that rules out overlong forms, surrogates and values above U+10FFFF).
public func utf8Sequence(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UTF8Sequence {
    let lead = bytes[index]
    if lead < 0x80 { return .valid(1) }
    let length: Int
    var lower: UInt8 = 0x80
    var upper: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0: length = 3; lower = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: length = 3; upper = 0x9F
    case 0xF0: length = 4; lower = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4: length = 4; upper = 0x8F
    default: return .invalidStart
    }
    if bytes.count - index < length { return .cutShort }
    let second = bytes[index + 1]
    if second < lower || second > upper { return .invalidContinuation(index + 1) }
    var offset = 2
    while offset < length {
        let next = bytes[index + offset]
        if next < 0x80 || next > 0xBF { return .invalidContinuation(index + offset) }
        offset += 1
    }
    return .valid(length)
}

/// `value` as `width` lower-case hex digits (Python's `\x..`/`\u....` escapes, temporary names).
public func hexDigits(_ value: UInt32, width: Int) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    var result = ""
    var shift = (width - 1) * 4
    while shift >= 0 {
        result.append(digits[Int((value >> UInt32(shift)) & 15)])
        shift -= 4
    }
    return result
}

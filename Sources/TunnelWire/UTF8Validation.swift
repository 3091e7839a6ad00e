/// Strict UTF-8 validation with the rules of Python's `bytes.decode('utf-8')`:
/// no overlong forms, no surrogates, nothing above U+10FFFF.
/// Returns nil when valid, else a description of the first offending byte.
public func utf8Problem(_ bytes: UnsafeRawBufferPointer) -> String? {
    var index = 0
    let count = bytes.count
    while index < count {
        let lead = bytes[index]
        if lead < 0x80 { index += 1; continue }
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
        default: return "invalid start byte 0x\(hexDigits(UInt32(lead), width: 2)) at position \(index)"
        }
        if count - index < length { return "unexpected end of data at position \(index)" }
        let second = bytes[index + 1]
        if second < lower || second > upper { return "invalid continuation byte at position \(index + 1)" }
        var offset = 2
        while offset < length {
            let next = bytes[index + offset]
            if next < 0x80 || next > 0xBF { return "invalid continuation byte at position \(index + offset)" }
            offset += 1
        }
        index += length
    }
    return nil
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

import CPosix

/// A text file's lines, one at a time, without copying: a line's bytes stay valid until the
/// next call. Reads in pieces; a line longer than the buffer grows it. (Account databases
/// and nsswitch.conf; no String splitting, which is large in the static binary.)
struct LineReader: ~Copyable {
    private let file: FileDescriptor?
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var start = 0
    private var end = 0
    private var atEnd = false

    init(_ path: SystemPath) {
        // The host's own file (account databases), never beneath --root.
        file = try? FileDescriptor.open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK)
        atEnd = file == nil
    }

    deinit { buffer.deallocate() }

    /// The next line without its newline; nil at the end (or when the file could not be
    /// opened).
    mutating func next() -> UnsafeRawBufferPointer? {
        var index = start
        while true {
            // memchr: the scan is most of the time of a lookup in a 200,000-line file.
            if index < end, let newline = memchr(buffer.baseAddress! + index, 0x0A, end - index) {
                let position = buffer.baseAddress!.distance(to: newline)
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<position])
                start = position + 1
                return line
            }
            index = end
            if atEnd {
                guard start < end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                start = end
                return line
            }
            // Keep the partial line, at the front of a buffer with room after it.
            let partial = end - start
            if partial == buffer.count {
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * buffer.count, alignment: 1)
                grown.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: partial)
                buffer.deallocate()
                buffer = grown
            } else if start > 0 {
                (buffer.baseAddress!).copyMemory(from: buffer.baseAddress! + start, byteCount: partial)
            }
            start = 0
            end = partial
            index = partial
            let got = (try? file?.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))) ?? 0
            if got == 0 { atEnd = true } else { end += got }
        }
    }
}

// Helpers for the fields of such lines, taken as ranges of the line's bytes.

/// Whether `range` of `line` holds exactly `bytes`.
func field(_ line: UnsafeRawBufferPointer, _ range: Range<Int>, equals bytes: [UInt8]) -> Bool {
    guard range.count == bytes.count else { return false }
    var index = 0
    while index < bytes.count {
        if line[range.lowerBound + index] != bytes[index] { return false }
        index += 1
    }
    return true
}

/// `range` of `line` as a decimal id: ASCII digits only, within UInt32.
func decimalID(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt32? {
    guard !range.isEmpty else { return nil }
    var value: UInt32 = 0
    for index in range {
        let digit = line[index]
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
        let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
        let (plus, overflowB) = times.addingReportingOverflow(UInt32(digit - UInt8(ascii: "0")))
        guard !overflowA, !overflowB else { return nil }
        value = plus
    }
    return value
}

import CPosix

/// /etc/group read directly. musl's getgrnam/getgrgid/getgrent parse and allocate every
/// line they pass (a 200,000-line file made QueryGroup slower than the reference); this
/// looks at each line's name, gid or member list in place and copies only what matches.
/// Lines are parsed as musl parses them: four fields separated by ':', a decimal gid,
/// members separated by ','; anything else is skipped. (Plain index loops: the generic
/// collection algorithms cost 11 KB of the static binary here.)
enum GroupFile {
    static let path = SystemPath("/etc/group")!

    /// The first group named `name`.
    static func group(named name: String) -> GroupRecord? {
        let wanted = Array((name + ":").utf8)
        var lines = LineReader(path)
        while let line = lines.next() {
            // Only a line that starts with "name:" is parsed at all.
            guard line.count >= wanted.count,
                  wanted.withUnsafeBytes({ memcmp(line.baseAddress!, $0.baseAddress!, wanted.count) }) == 0,
                  let entry = entry(line), entry.gid != nil else { continue }
            return entry.record()
        }
        return nil
    }

    /// The first group with `id`.
    static func group(id: UInt32) -> GroupRecord? {
        var lines = LineReader(path)
        while let entry = nextEntry(&lines) {
            if entry.gid == id { return entry.record() }
        }
        return nil
    }

    /// The names of every group whose member list names `member`, in file order.
    static func names(listing member: String) -> [String] {
        let wanted = Array(member.utf8)
        var names: [String] = []
        var lines = LineReader(path)
        while let entry = nextEntry(&lines) {
            if entry.gid != nil, entry.lists(wanted) {
                names.append(entry.text(entry.name))
            }
        }
        return names
    }

    /// One line, split but not copied: fields as ranges of `line`.
    struct Entry {
        let line: UnsafeRawBufferPointer
        let name: Range<Int>
        let gid: UInt32?
        let members: Range<Int>

        func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: line[range]), as: UTF8.self)
        }

        /// Whether the member list names `member`, checked in place.
        func lists(_ member: [UInt8]) -> Bool {
            var start = members.lowerBound
            while start <= members.upperBound {
                var stop = start
                while stop < members.upperBound && line[stop] != UInt8(ascii: ",") { stop += 1 }
                if field(line, start..<stop, equals: member) { return true }
                start = stop + 1
            }
            return false
        }

        /// The member names' ranges (none for an empty list).
        func memberRanges() -> [Range<Int>] {
            var ranges: [Range<Int>] = []
            var start = members.lowerBound
            var index = start
            while index <= members.upperBound {
                if index == members.upperBound || line[index] == UInt8(ascii: ",") {
                    if index > start { ranges.append(start..<index) }
                    start = index + 1
                }
                index += 1
            }
            return ranges
        }

        func record() -> GroupRecord? {
            guard let gid else { return nil }
            return GroupRecord(name: text(name), gid: gid, members: memberRanges().map { text($0) })
        }
    }

    /// One line as a record, nil when it is not well-formed (the fuzzer feeds it directly).
    static func record(line: UnsafeRawBufferPointer) -> GroupRecord? {
        entry(line)?.record()
    }

    /// The next well-formed line. Its bytes stay valid until the next call.
    private static func nextEntry(_ lines: inout LineReader) -> Entry? {
        while let line = lines.next() {
            if let entry = entry(line) { return entry }
        }
        return nil
    }

    private static func entry(_ line: UnsafeRawBufferPointer) -> Entry? {
        guard let first = colon(in: line, after: 0), first > 0,
              let second = colon(in: line, after: first + 1),
              let third = colon(in: line, after: second + 1) else { return nil }
        return Entry(line: line, name: 0..<first, gid: decimalID(line, second + 1..<third),
                     members: third + 1..<line.count)
    }

    private static func colon(in line: UnsafeRawBufferPointer, after start: Int) -> Int? {
        guard start < line.count, let found = memchr(line.baseAddress! + start, 0x3A, line.count - start) else { return nil }
        return line.baseAddress!.distance(to: UnsafeRawPointer(found))
    }
}

import TunnelWire

extension TunnelConnection {
    /// The link count and device numbers of each path (`lstat`), in order; zeros for a path
    /// that could not be read. Asked in requests of at most 4096 paths or 1 MiB of them, far
    /// below the agent's list limits, whatever the folder's size.
    public func fileNumbers(_ paths: [[UInt8]]) throws(TunnelError) -> [FileNumbers] {
        try require(.statNumbers)
        var numbers: [FileNumbers] = []
        var start = 0
        while start < paths.count {
            var end = start, bytes = 0
            while end < paths.count && end - start < 4096 && (end == start || bytes + paths[end].count <= 1 << 20) {
                bytes += paths[end].count
                end += 1
            }
            // Its count is refused beyond the paths asked, before any number is read: a
            // hostile target's claim of millions is not held (docs/security.md, "Numbers").
            let input = transport.input
            let usual = input.limits
            input.limits.maxListCount = UInt64(end - start)
            defer { input.limits = usual }
            let answer = try request(StatNumbers(paths: Array(paths[start..<end])), expecting: StatNumbersResult.self)
            // A short or long answer from a hostile target: never misattributed to other names.
            guard answer.numbers.count == 3 * (end - start) else {
                throw .invalidAnswer(field: "entries", reason: "\(answer.numbers.count / 3) entries for \(end - start) paths")
            }
            numbers += answer.entries
            start = end
        }
        return numbers
    }
}

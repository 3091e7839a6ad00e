import TunnelWire

/// StatNumbers → StatNumbersResult: `lstat` of each path, for `ls -l`'s link count and
/// device numbers. A path that cannot be read gets zeros rather than failing the listing,
/// as ls still lists a name it cannot stat.
enum StatNumbersHandler: RequestHandler {
    static func answer(_ request: StatNumbers, in context: SessionContext) throws(Refusal) -> Answer {
        var numbers: [UInt64] = []
        for bytes in request.paths {
            let path = try systemPath(bytes: bytes, field: "paths")   // a NUL byte: InvalidField
            var links: UInt64 = 0, device: UInt64 = 0
            if let status = try? path.status(followingLinks: false) {
                links = status.linkCount
                device = status.deviceNumber
            }
            numbers.append(links)
            // Linux's dev_t layout (glibc's and musl's major() and minor(), which are macros).
            numbers.append((device >> 32) & 0xffff_f000 | (device >> 8) & 0xfff)
            numbers.append((device >> 12) & 0xffff_ff00 | device & 0xff)
        }
        return .statNumbers(StatNumbersResult(numbers: numbers))
    }
}

/// A path as the kernel sees it: bytes without NUL, never decoded or re-encoded, so that
/// names which are not UTF-8 (a link target like `caf\xe9.conf`) survive every step.
struct SystemPath: Equatable {
    private(set) var bytes: [UInt8]

    /// nil when the text holds a NUL byte, which no system call can take.
    init?(_ text: String) {
        self.init(bytes: Array(text.utf8))
    }

    init?(bytes: [UInt8]) {
        guard !bytes.contains(0) else { return nil }
        self.bytes = bytes
    }

    init<S: Sequence>(validBytes: S) where S.Element == UInt8 {
        bytes = Array(validBytes)
    }

    static let currentDirectory = SystemPath(validBytes: [UInt8(ascii: ".")])
    static let parentDirectory = SystemPath(validBytes: [UInt8(ascii: "."), UInt8(ascii: ".")])
    static let root = SystemPath(validBytes: [UInt8(ascii: "/")])

    var isEmpty: Bool { bytes.isEmpty }

    /// For messages: the bytes as UTF-8, with U+FFFD where they are not.
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var isAbsolute: Bool { bytes.first == UInt8(ascii: "/") }

    /// The directory part and the last component, as `open(2)` splits them: "a/b" gives
    /// ("a", "b"), "b" gives (".", "b"), "/b" gives ("/", "b"). The last component is
    /// empty when the path ends in "/" (then it can only name a directory).
    func split() -> (directory: SystemPath, name: SystemPath) {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return (.currentDirectory, self) }
        let name = SystemPath(validBytes: bytes[(slash + 1)...])
        var end = slash
        while end > 0 && bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }
        return (end == 0 ? .root : SystemPath(validBytes: bytes[0..<end]), name)
    }

    /// `self/name` (for messages that name an entry below a path).
    func appending(_ name: SystemPath) -> SystemPath {
        SystemPath(validBytes: bytes + [UInt8(ascii: "/")] + name.bytes)
    }

    /// "." and "..": names that never denote a file of their own.
    var isDotOrDotDot: Bool {
        bytes == [UInt8(ascii: ".")] || bytes == [UInt8(ascii: "."), UInt8(ascii: ".")]
    }

    func withCString<T>(_ body: (UnsafePointer<CChar>) throws(Errno) -> T) throws(Errno) -> T {
        var terminated = bytes
        terminated.append(0)
        var result: Result<T, Errno>? = nil
        terminated.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { text in
                do throws(Errno) { result = .success(try body(text.baseAddress!)) } catch { result = .failure(error) }
            }
        }
        return try result!.get()
    }
}

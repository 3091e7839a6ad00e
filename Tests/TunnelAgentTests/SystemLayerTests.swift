@testable import TunnelAgent
import CPosix
import XCTest

/// The system layer on its own, against a scratch directory: paths as bytes, descriptors,
/// the `*at` calls, the spool's bounds, the upload's replacement.
final class SystemLayerTests: XCTestCase {
    var scratch: String = ""

    override func setUp() {
        var template = Array("/tmp/tunnel-system-XXXXXX".utf8CString)
        scratch = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    override func tearDown() {
        _ = scratch.withCString { path in
            system("rm -rf '\(String(cString: path))'")
        }
    }

    func path(_ name: String) -> SystemPath { SystemPath(scratch + "/" + name)! }

    func testPathsSplitAsOpenDoes() {
        func split(_ text: String) -> (String, String) {
            let (directory, name) = SystemPath(text)!.split()
            return (String(decoding: directory.bytes, as: UTF8.self), String(decoding: name.bytes, as: UTF8.self))
        }
        XCTAssert(split("a/b") == ("a", "b"))
        XCTAssert(split("b") == (".", "b"))
        XCTAssert(split("/b") == ("/", "b"))
        XCTAssert(split("//b") == ("/", "b"))
        XCTAssert(split("a//b") == ("a", "b"))
        XCTAssert(split("a/") == ("a", ""))
        XCTAssertNil(SystemPath("a\u{0}b"))
        // Bytes that are not UTF-8 pass through untouched.
        XCTAssertEqual(SystemPath(bytes: [0x63, 0xE9])!.split().name.bytes, [0x63, 0xE9])
    }

    func testDescriptorsWorkRelativeToADirectory() throws {
        let directory = try FileDescriptor.openDirectory(SystemPath(scratch)!)
        let name = SystemPath("f")!
        let file = try directory.open(name, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
        // A move-only descriptor cannot be captured by a closure: write from a plain buffer.
        let hello = UnsafeMutableRawBufferPointer.allocate(byteCount: 5, alignment: 1)
        defer { hello.deallocate() }
        hello.copyBytes(from: "hello".utf8)
        try file.writeAll(UnsafeRawBufferPointer(hello))
        let status = try file.status()
        XCTAssertEqual(status.kind, .regular)
        XCTAssertEqual(status.size, 5)
        XCTAssert(try directory.status(of: name, followingLinks: false).isSameFile(as: status))
        try directory.rename(name, to: SystemPath("g")!)
        XCTAssertThrowsError(try path("f").status(followingLinks: false)) { XCTAssertEqual($0 as? Errno, .noEntry) }
        XCTAssertEqual(try path("g").status(followingLinks: false).size, 5)
        try directory.removeFile(SystemPath("g")!)
        XCTAssertThrowsError(try directory.removeFile(SystemPath("g")!)) { XCTAssertEqual($0 as? Errno, .noEntry) }
    }

    func testRenameWithoutReplacingRefusesAnExistingName() throws {
        let directory = try FileDescriptor.openDirectory(SystemPath(scratch)!)
        _ = try directory.open(SystemPath("a")!, O_WRONLY | O_CREAT, mode: 0o600)
        _ = try directory.open(SystemPath("b")!, O_WRONLY | O_CREAT, mode: 0o600)
        XCTAssertThrowsError(try directory.rename(SystemPath("a")!, to: SystemPath("b")!, replacing: false)) {
            XCTAssertEqual($0 as? Errno, .exists)
        }
    }

    func testExtendedAttributesRoundTrip() throws {
        let file = try FileDescriptor.open(path("x"), O_RDWR | O_CREAT, mode: 0o600)
        try file.setExtendedAttribute(Array("user.k".utf8), [1, 2, 3])
        XCTAssertEqual(try file.extendedAttributeNames(), [Array("user.k".utf8)])
        XCTAssertEqual(try file.extendedAttribute(Array("user.k".utf8)), [1, 2, 3])
    }

    func testCurrentPathIsTheKernelsName() throws {
        let file = try FileDescriptor.open(path("named"), O_RDWR | O_CREAT, mode: 0o600)
        XCTAssertEqual(file.currentPath(), path("named"))
    }

    func testSpoolStopsAtItsLimit() {
        let spool = Spool(limit: 10)
        let bytes: [UInt8] = Array(repeating: 7, count: 6)
        XCTAssertTrue(bytes.withUnsafeBytes { spool.append($0) })
        XCTAssertFalse(bytes.withUnsafeBytes { spool.append($0) })
        XCTAssertEqual(spool.failure, .fileTooLarge)
        XCTAssertFalse(bytes.withUnsafeBytes { spool.append($0) })
    }

    func testSpoolBeyondMemoryGoesToAFileAndReadsBack() throws {
        let spool = Spool()
        let piece = [UInt8](repeating: 0xAB, count: 300_000)
        for _ in 0..<5 { XCTAssertTrue(piece.withUnsafeBytes { spool.append($0) }) }
        XCTAssertEqual(spool.byteCount, 1_500_000)
        var total = 0
        try spool.forEachChunk { (chunk) throws(Errno) in
            XCTAssert(chunk.allSatisfy { $0 == 0xAB })
            total += chunk.count
        }
        XCTAssertEqual(total, 1_500_000)
    }

    /// appendContent reads straight into memory up to memoryLimit, then through the file;
    /// a size hint that is wrong either way changes nothing but the memory's first size.
    func testSpoolReadsAFileToItsEndWhateverItsSizeSaid() throws {
        let spool = Spool()
        for (size, hint) in [(0, 0), (5000, 0), (5000, 4096), (1_500_000, 1_500_000), (70, 9_999_999)] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) }
            try bytes.withUnsafeBytes { try FileDescriptor.open(path("content"), O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600).writeAll($0) }
            spool.empty()
            try spool.appendContent(of: try FileDescriptor.open(path("content"), O_RDONLY), expectedSize: UInt64(hint))
            XCTAssertNil(spool.failure)
            XCTAssertEqual(spool.contents(limit: .max), bytes, "\(size) bytes, \(hint) expected")
        }
    }

    func testSpoolReadingAFileStopsAtItsLimit() throws {
        let spool = Spool(limit: 10)
        try [UInt8](repeating: 1, count: 11).withUnsafeBytes {
            try FileDescriptor.open(path("eleven"), O_WRONLY | O_CREAT, mode: 0o600).writeAll($0)
        }
        try spool.appendContent(of: try FileDescriptor.open(path("eleven"), O_RDONLY), expectedSize: 11)
        XCTAssertEqual(spool.failure, .fileTooLarge)
        spool.empty()
        XCTAssertNil(spool.failure)
        XCTAssertEqual(spool.byteCount, 0)
    }

    func testReplacementKeepsTheOldFileUntilCommitted() throws {
        let target = scratch + "/target"
        // An old content of its own (an empty file would also pass if it were truncated).
        try [UInt8]("old content".utf8).withUnsafeBytes { old in
            try FileDescriptor.open(SystemPath(target)!, O_WRONLY | O_CREAT, mode: 0o640).writeAll(old)
        }
        do {
            let replacement = FileReplacement(target: target)
            [UInt8]("new".utf8).withUnsafeBytes { replacement.append($0) }
            // Released without commit: nothing changes, nothing is left.
        }
        XCTAssertEqual(try content(of: "target"), Array("old content".utf8))
        XCTAssertEqual(try directoryEntries(), ["target"])
        let replacement = FileReplacement(target: target)
        [UInt8]("new".utf8).withUnsafeBytes { replacement.append($0) }
        XCTAssertNoThrow(try replacement.commit(RequestedMetadata(), durability: .synced))
        XCTAssertEqual(try content(of: "target"), Array("new".utf8))
        XCTAssertEqual(try path("target").status(followingLinks: false).permissions, 0o640)
        XCTAssertEqual(try directoryEntries(), ["target"])
    }

    func content(of name: String) throws -> [UInt8] {
        var result: [UInt8] = []
        try FileDescriptor.openForReading(path(name), followingLinks: false).forEachChunk { chunk in
            result.append(contentsOf: chunk)
            return true
        }
        return result
    }

    func testTemporaryNamesAreShort() {
        for _ in 0..<100 { XCTAssertEqual(TemporaryNames.next().bytes.count, 16) }
    }

    func directoryEntries() throws -> [String] {
        try FileManagerFree.list(scratch)
    }
}

/// Lists a directory with opendir (the tests use no Foundation either).
enum FileManagerFree {
    static func list(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw Errno.current }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

/// The fallback of `tp_open_without_symlinks` for kernels without openat2 (before 5.6),
/// which the machines that run the tests never take: the walk on its own.
final class RootWalkTests: XCTestCase {
    func testTheWalkRefusesASymlinkAnywhereAndOpensRealPaths() throws {
        var template = Array("/tmp/tunnel-walk-XXXXXX".utf8CString)
        let scratch = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { _ = system("rm -rf '\(scratch)'") }
        XCTAssertEqual(mkdir(scratch + "/real", 0o755), 0)
        XCTAssertEqual(mkdir(scratch + "/real/sub", 0o755), 0)
        XCTAssertEqual(symlink(scratch + "/real", scratch + "/link"), 0)
        XCTAssertEqual(symlink("sub", scratch + "/real/sublink"), 0)
        func walk(_ path: String, _ flags: Int32 = TP_O_PATH | TP_O_DIRECTORY) -> Int32 {
            let fd = tp_open_walking_without_symlinks(path, flags)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        for path in ["/", ".", scratch + "/real", scratch + "/real/sub/", scratch + "//real/./sub/../sub"] {
            XCTAssertEqual(walk(path), 0, path)
        }
        XCTAssertEqual(walk(scratch + "/real/sub", O_RDONLY | TP_O_DIRECTORY), 0)
        // A symlink as a folder on the way, or as the last name: never followed.
        XCTAssertEqual(walk(scratch + "/link/sub"), ENOTDIR)
        XCTAssertEqual(walk(scratch + "/link"), ENOTDIR)
        XCTAssertEqual(walk(scratch + "/real/sublink", O_RDONLY), ELOOP)
        XCTAssertEqual(walk(scratch + "/missing/sub"), ENOENT)
        XCTAssertEqual(walk(""), ENOENT)
        XCTAssertEqual(walk(scratch + "/" + String(repeating: "n", count: 256)), ENAMETOOLONG)
    }
}

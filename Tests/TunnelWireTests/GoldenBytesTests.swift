import Foundation
import TunnelWire
import XCTest

/// Every packet against the exact bytes the reference's own encoder produced
/// (golden/packets.txt, written by scripts/generate-golden.py), in both directions; the
/// extensions against golden/extensions.txt (scripts/generate-golden-extensions.py, whose
/// Python encoder was written from docs/protocol.md apart from this codec).
final class GoldenBytesTests: XCTestCase {
    static let golden: [String: [UInt8]] = {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden")
        let text = ["packets.txt", "extensions.txt"].map {
            (try? String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)) ?? ""
        }.joined()
        var result: [String: [UInt8]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            let hex = Array(parts[1].utf8)
            result[String(parts[0])] = stride(from: 0, to: hex.count, by: 2).map {
                UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16)!
            }
        }
        return result
    }()

    /// The packets of golden/packets.txt, built with this library.
    static let samples: [(String, [UInt8], (inout ByteReader) throws -> Bool)] = [
        sample("ok", Ok()),
        sample("ack", Ack()),
        sample("checkAlive", CheckAlive()),
        sample("exit", Exit()),
        sample("osError", OSError(errno: 2, strerror: "No such file or directory",
                                  msg: "[Errno 2] No such file or directory: '/x'")),
        sample("invalidField", InvalidField(field: "cwd", errorMessage: "The directory does not exist")),
        sample("processCompleted", ProcessCompleted(stdout: Array("out\n".utf8), stderr: [], returncode: -9)),
        sample("processCompletedUncaptured", ProcessCompleted<[UInt8]>(stdout: nil, stderr: nil, returncode: 3)),
        sample("processError", ProcessError(message: "Exception occurred in preexec_fn.")),
        sample("processRun", ProcessRun(command: ["sh", "-c", "echo \u{e4}"], stdin: [0x00, 0xff],
                                        captureOutput: true, user: "root", group: nil, umask: "022", cwd: "/tmp")),
        sample("processRunMinimal", ProcessRun<[UInt8]>(command: ["true"], stdin: nil, captureOutput: false,
                                                        user: nil, group: "0", umask: nil, cwd: nil)),
        sample("statResult", StatResult(type: "file", mode: 0o644, owner: "root", group: "root", size: 12,
                                        mtime: 1_700_000_000_123_456_789, ctime: UInt64.max, sha512sum: Array(0..<64))),
        sample("statResultNoDigest", StatResult(type: "dir", mode: 0o7777, owner: "1234", group: "5678", size: 0,
                                                mtime: 0, ctime: 1, sha512sum: nil)),
        sample("stat", Stat(path: "/etc/passwd", followLinks: true, sha512sum: false)),
        sample("resolveResult", ResolveResult(value: "nobody")),
        sample("resolveUser", ResolveUser(user: "0")),
        sample("resolveUserSelf", ResolveUser(user: nil)),
        sample("resolveGroup", ResolveGroup(group: nil)),
        sample("upload", Upload(file: "/tmp/f", content: Array("content".utf8), mode: "600", owner: nil, group: "nogroup")),
        sample("downloadResult", DownloadResult(content: [0, 1, 2])),
        sample("download", Download(file: "/tmp/\u{2603}")),
        sample("userEntry", UserEntry(name: "root", uid: 0, group: "root", gid: -1, groups: ["a", "bb"],
                                      passwordHash: "$6$salt$hash", gecos: "root", home: "/root", shell: "/bin/bash")),
        sample("queryUser", QueryUser(user: "root", queryPasswordHash: true)),
        sample("groupEntry", GroupEntry(name: "adm", gid: 4, members: [])),
        sample("queryGroup", QueryGroup(group: "adm")),
        sample("environVar", EnvironVar(value: "/usr/bin")),
        sample("environVarUnset", EnvironVar(value: nil)),
        sample("getenv", Getenv(key: "PATH")),
        // Extensions
        sample("hello", Hello(durableUploads: true)),
        sample("helloResult", HelloResult(version: "0.1.0", extensions: [25, 31], durableUploads: true)),
        sample("runEx", RunEx(command: [Array("sh".utf8), Array("-c".utf8), Array("echo ".utf8) + [0xff]],
                              environment: .login, setEnvironment: [Array("A=1".utf8), Array("B".utf8)],
                              user: "www-data", group: nil, umask: "022", cwd: Array("/srv".utf8),
                              timeoutMilliseconds: 1500, graceMilliseconds: 250, stream: true, stdin: Array("in".utf8))),
        sample("runExMinimal", RunEx<[UInt8]>(command: [Array("true".utf8)])),
        sample("output", Output(stream: .stderr, data: Array("err\n".utf8))),
        sample("runFinished", RunFinished<[UInt8]>(returncode: -15, timedOut: true)),
        sample("runFinishedCaptured", RunFinished(returncode: 3, timedOut: false, stdout: Array("out".utf8), stderr: [])),
        sample("input", Input(data: [0] + Array("data".utf8))),
        sample("closeInput", CloseInput()),
        sample("signal", Signal(number: 2)),
        sample("listDir", ListDir(path: Array("/etc".utf8), withStatus: true)),
        sample("dirEntries", DirEntries(entries: [
            DirEntry(name: [UInt8(ascii: "a"), 0xff], type: "file"),
            DirEntry(name: Array("sub".utf8), type: "dir",
                     status: StatResult(type: "dir", mode: 0o755, owner: "root", group: "root", size: 4096,
                                        mtime: 1, ctime: 2, sha512sum: nil)),
        ], last: true)),
        sample("makeDir", MakeDir(path: Array("/srv/a/b".utf8), mode: "750", parents: true)),
        sample("remove", Remove(path: Array("/srv/a".utf8), recursive: true)),
        sample("rename", Rename(source: Array("/srv/a".utf8), target: Array("/srv/b".utf8), noReplace: true)),
        sample("setMetadata", SetMetadata(path: Array("/srv/b".utf8), followLinks: false, mode: nil, owner: "root",
                                          group: "0", mtime: -1)),
        sample("symlink", Symlink(target: Array("../target".utf8), path: Array("/srv/link".utf8))),
        sample("readLink", ReadLink(path: Array("/srv/link".utf8))),
        sample("linkTarget", LinkTarget(target: Array("../target".utf8))),
        sample("statPath", StatPath(path: Array("/srv/".utf8) + [0xfe], followLinks: true, sha512sum: true)),
        sample("helloStructuredFailures", Hello(durableUploads: false, structuredFailures: true)),
        sample("helloResultStructuredFailures", HelloResult(version: "0.2.0", extensions: [], durableUploads: true,
                                                            structuredFailures: true)),
        sample("failure", Failure(step: .execute, errno: 2, subject: Array("no\\such".utf8) + [0xff],
                                  message: "[Errno 2] No such file or directory: 'no\\\\such'")),
        sample("failureField", Failure(step: .field, errno: 0, subject: Array("mode".utf8),
                                       message: "Invalid value '9': Must be in octal format.")),
        sample("uploadBeneath", UploadBeneath(root: Array("/srv".utf8), path: Array("a/b".utf8) + [0xff],
                                              content: Array("hi".utf8), mode: nil, newFileMode: "640",
                                              owner: "root", group: nil)),
        sample("readBeneath", ReadBeneath(root: Array("/srv".utf8), path: Array("a/".utf8) + [0xfe], withStatus: true)),
        sample("createBeneath", CreateBeneath(root: Array("/srv".utf8), path: Array("a/b".utf8), mode: "750")),
        sample("createBeneathLink", CreateBeneath(root: Array("/srv".utf8), path: Array("a/l".utf8) + [0xff],
                                                  linkTarget: Array("../t".utf8))),
        sample("setMetadataBeneath", SetMetadataBeneath(root: Array("/srv".utf8), path: Array("a/b".utf8) + [0xff],
                                                        mode: "750", owner: "root", group: nil, mtime: -1)),
        sample("removeBeneath", RemoveBeneath(root: Array("/srv".utf8), path: Array("a/b".utf8) + [0xff], recursive: true)),
        sample("statNumbers", StatNumbers(paths: [Array("/dev/null".utf8), Array("/srv/a".utf8) + [0xff]])),
        sample("statNumbersResult", StatNumbersResult(entries: [FileNumbers(linkCount: 1, deviceMajor: 1, deviceMinor: 3),
                                                                FileNumbers(linkCount: 0, deviceMajor: 0, deviceMinor: 0)])),
        sample("windowSize", WindowSize(size: TerminalSize(rows: 24, columns: 80))),
        sample("runTerminal", RunTerminal(size: TerminalSize(rows: 50, columns: 132),
                                          run: RunEx(command: [Array("/bin/bash".utf8), Array("-l".utf8)],
                                                     environment: .login, setEnvironment: [Array("TERM=xterm".utf8)],
                                                     user: "alice", stream: true, stdin: [UInt8]()))),
    ]

    /// (name, our encoding, "decoding the golden bytes gives this packet back")
    static func sample<P: DecodablePacket & Equatable>(_ name: String, _ packet: P)
        -> (String, [UInt8], (inout ByteReader) throws -> Bool) {
        (name, packet.encoded, { reader in
            let id = try reader.readPacketID()
            guard id == P.id else { return false }
            return try P.decodeFields(from: &reader) == packet && reader.isAtEnd
        })
    }

    func testGoldenFileCoversEverySample() {
        XCTAssertEqual(Self.golden.count, Self.samples.count)
        let ids = Set(Self.samples.map { Self.golden[$0.0].map { UInt32($0[3]) } ?? 999 })
        XCTAssertEqual(ids, Set(PacketID.allCases.map(\.rawValue)), "every packet id has a golden sample")
    }

    func testEncodingMatchesReferenceBytes() {
        for (name, encoded, _) in Self.samples {
            XCTAssertEqual(encoded, Self.golden[name], name)
        }
    }

    func testDecodingReferenceBytesGivesThePacket() throws {
        for (name, _, decodesBack) in Self.samples {
            var reader = ByteReader(Self.golden[name] ?? [], limits: .client)
            XCTAssertTrue(try decodesBack(&reader), name)
        }
    }

    func testEveryTruncationIsDetected() {
        for (name, encoded, decodesBack) in Self.samples {
            for cut in 0..<encoded.count {
                var reader = ByteReader(Array(encoded[0..<cut]), limits: .client)
                XCTAssertThrowsError(try decodesBack(&reader), "\(name) cut at \(cut)") { error in
                    let expected: WireError = cut == 0 ? .endOfStream : .truncated
                    XCTAssertEqual(error as? WireError, expected, "\(name) cut at \(cut)")
                }
            }
        }
    }

    func testRequestDirection() {
        let requests = PacketID.allCases.filter(\.isRequest).map(\.rawValue)
        XCTAssertEqual(requests, [2, 3, 8, 10, 12, 13, 14, 16, 18, 20, 22, 23, 25, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 40, 42, 43, 44, 45, 46, 47, 48, 49])
    }
}

import Foundation
@testable import TunnelClient
import TunnelWire
import XCTest

/// The client library against a real agent: the static one from `make` when it exists
/// (dist/tunnel-dispatcher), else the one SwiftPM built next to these tests.
final class TunnelConnectionTests: TemporaryDirectoryTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let agent: String = {
        if let path = ProcessInfo.processInfo.environment["TUNNEL_AGENT"] { return path }
        let built = root.appendingPathComponent("dist/tunnel-dispatcher").path
        if FileManager.default.isExecutableFile(atPath: built) { return built }
        return root.appendingPathComponent(".build/debug/tunnel-dispatcher").path
    }()

    func connect() throws -> TunnelConnection { try TunnelConnection(command: [Self.agent]) }

    /// `sha512sum`'s digest of the file at `path` (an implementation other than the agent's).
    func sha512sum(of path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha512sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let hex = Array(output.prefix(128))
        return stride(from: 0, to: hex.count, by: 2).map { UInt8(String(hex[$0...$0 + 1]), radix: 16)! }
    }

    /// Polls `condition` until it holds or ten seconds pass (a bound, not a timing assertion).
    func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition()
    }

    func testRunAndErrors() throws {
        let agent = try connect()
        let result = try agent.run(["sh", "-c", "cat; echo err >&2; exit 4"], stdin: Array("in".utf8))
        XCTAssertEqual(result, ProcessCompleted(stdout: Array("in".utf8), stderr: Array("err\n".utf8), returncode: 4))
        XCTAssertThrowsError(try agent.run(["no such program"])) { error in
            guard case .remoteOSError(let os) = error as? TunnelError else { return XCTFail("\(error)") }
            XCTAssertEqual(os.msg, "[Errno 2] No such file or directory: 'no such program'")
        }
        XCTAssertThrowsError(try agent.run(["true"], umask: "9")) { error in
            XCTAssertEqual(error as? TunnelError, .invalidField(InvalidField(field: "umask", errorMessage: "Invalid value '9': Must be in octal format.")))
        }
        XCTAssertEqual(try agent.run(["pwd"], cwd: "/").stdout, Array("/\n".utf8), "the session goes on after errors")
        XCTAssertEqual(agent.close(), 0)
    }

    func testFiles() throws {
        let agent = try connect()
        let path = directory.appendingPathComponent("f").path
        XCTAssertNil(try agent.stat(path))
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try agent.upload(path, content: content, mode: "640")
        XCTAssertEqual(try agent.download(path), content)
        let info = try XCTUnwrap(try agent.stat(path, sha512: true))
        XCTAssertEqual(info.type, "file")
        XCTAssertEqual(info.mode, 0o640)
        XCTAssertEqual(info.size, UInt64(content.count))
        XCTAssertEqual(info.sha512sum, try sha512sum(of: path), "the digest of the content, not just 64 bytes")
        agent.close()
    }

    func testStreamingUploadFromAFile() throws {
        let source = directory.appendingPathComponent("source")
        let content = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        try content.write(to: source)
        let agent = try connect()
        let fd = open(source.path, O_RDONLY)
        defer { close(fd) }
        let target = directory.appendingPathComponent("target").path
        try agent.upload(target, streaming: FileContent(fd: fd, byteCount: UInt64(content.count)))
        XCTAssertEqual(try agent.download(target), Array(content))
        agent.close()
    }

    func testAShortFileAbandonsTheUploadAndKeepsTheOldFile() throws {
        let source = directory.appendingPathComponent("short")
        try Data("abc".utf8).write(to: source)
        let target = directory.appendingPathComponent("target")
        try Data("old".utf8).write(to: target)
        let agent = try connect()
        let fd = open(source.path, O_RDONLY)
        defer { close(fd) }
        XCTAssertThrowsError(try agent.upload(target.path, streaming: FileContent(fd: fd, byteCount: 100))) { error in
            guard case .transport(let message) = error as? TunnelError else { return XCTFail("\(error)") }
            XCTAssert(message.hasPrefix("upload of \(target.path) abandoned: "), message)
        }
        // The agent ends as soon as it sees the upload cut short; its temporary is gone then.
        XCTAssertTrue(waitUntil { (try? FileManager.default.contentsOfDirectory(atPath: self.directory.path).sorted())
                                  == ["short", "target"] })
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "old")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["short", "target"])
    }

    func testIdentityAndEnvironment() throws {
        let agent = try connect()
        XCTAssertEqual(try agent.resolveUser("0"), "root")
        XCTAssertEqual(try agent.resolveGroup("0"), "root")
        XCTAssertEqual(try agent.queryUser("root").uid, 0)
        XCTAssertEqual(try agent.queryGroup("root").gid, 0)
        XCTAssertEqual(try agent.getenv("PATH"), ProcessInfo.processInfo.environment["PATH"])
        XCTAssertNil(try agent.getenv("TUNNEL_SURELY_UNSET"))
        XCTAssertThrowsError(try agent.resolveUser("_no_such_user_")) { error in
            XCTAssertEqual(error as? TunnelError, .invalidField(InvalidField(field: "user", errorMessage: "The user does not exist")))
        }
        agent.close()
    }

    func testInvalidTextInAnAnswerIsAnError() throws {
        // A fake agent: Ack, then an EnvironVar whose value is not UTF-8, then a valid one.
        let script = "import sys; r = sys.stdin.buffer; w = sys.stdout.buffer; r.read(4); "
            + "w.write(bytes([0,0,0,1])); w.flush(); r.read(4 + 8 + 4); "
            + "w.write(bytes([0,0,0,21,1]) + (2).to_bytes(8, 'big') + bytes([0xff, 0xfe])); w.flush(); "
            + "r.read(4 + 8 + 4); w.write(bytes([0,0,0,21,1]) + (2).to_bytes(8, 'big') + b'ok'); w.flush(); r.read(4)"
        let agent = try TunnelConnection(command: ["python3", "-c", script])
        XCTAssertThrowsError(try agent.getenv("PATH")) { error in
            guard case .invalidAnswer(let field, _) = error as? TunnelError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "value")
        }
        XCTAssertEqual(try agent.getenv("PATH"), "ok", "the stream stays in step after the bad text")
        agent.close()
    }

    func testTransportThatIsNoAgent() {
        XCTAssertThrowsError(try TunnelConnection(command: ["/nonexistent/agent"]))
        // `true` exits at once: the check either cannot be written (EPIPE) or gets no answer.
        XCTAssertThrowsError(try TunnelConnection(command: ["true"])) { error in
            switch error as? TunnelError {
            case .protocolError(.endOfStream), .transport: break
            default: XCTFail("\(error)")
            }
        }
    }
}

final class BootstrapPartsTests: XCTestCase {
    func testSHA256MatchesTheStandardVectors() {
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 56 bytes: the padding spills into a second block.
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testSSHDestinations() throws {
        func split(_ text: String) throws -> [String?] { let (host, port) = try Route.splitPort(text); return [host, port] }
        XCTAssertEqual(try split("web1"), ["web1", nil])
        XCTAssertEqual(try split("deploy@web1:2222"), ["deploy@web1", "2222"])
        XCTAssertEqual(try split("[::1]:2222"), ["::1", "2222"])
        XCTAssertEqual(try split("fe80::1"), ["fe80::1", nil])
        XCTAssertEqual(try split("deploy@[fe80::1]:65535"), ["deploy@fe80::1", "65535"])
        XCTAssertThrowsError(try split("web1:ssh"))
        XCTAssertThrowsError(try split("-oProxyCommand=evil"))
        // Issue 20: brackets, a user part or an empty host must not let an option through.
        for bad in ["[-oProxyCommand=evil]:22", "[-oProxyCommand=evil]", "user@-oProxyCommand=evil",
                    "user@[-oProxyCommand=evil]:22", "@web1", "[]:22", "[::1]x", "[::1", "web1:", "",
                    "web1:0", "web1:65536", "web1:99999999999999999999", "web1:+22", "web1:٣", "web 1", "web1\n"] {
            XCTAssertThrowsError(try split(bad), bad)
            XCTAssertNotNil(Route.problem(withSSHDestination: bad), bad)
        }
        XCTAssertNil(Route.problem(withSSHDestination: "deploy@web1:2222"))
    }

    func testTheSSHCommandQuotesEachWordOnce() throws {
        let command = try Route.ssh(destination: "web1:22", options: ["BatchMode=yes"], sudo: false)
            .transportCommand(snippet: ["sh", "-c", "echo $HOME", "a b"])
        let cshLine = "test \"$?shell\" = 1 && exec /bin/sh -c 'read -r n; head -c \"$n\" >/dev/null; "
            + "echo tunnel-bootstrap script 10; eval \"$(head -c 10)\"' 'a b'"
        XCTAssertEqual(command, ["ssh", "-p", "22", "-o", "BatchMode=yes", "--", "web1", cshLine + "\n'sh' '-c' 'echo $HOME' 'a b'"])
    }
}

/// The extensions through the library, against the real agent.
final class ExtensionCallsTests: XCTestCase {
    func testStreamedRunEventsFileOperationsAndWalk() async throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        XCTAssertTrue(agent.serves(.runEx))
        var options = RunOptions(["sh", "-c", "cat; echo err >&2; exit 5"])
        options.stdin = Array("in ".utf8)
        let run = try agent.startStreamedRun(options)
        try run.send(Array("more".utf8))
        try run.closeInput()
        var events: [RunEvent] = []
        for try await event in run.events() { events.append(event) }
        XCTAssertEqual(events.last, .finished(returncode: 5, timedOut: false))
        let stdout = events.compactMap { if case .output(.stdout, let bytes) = $0 { return bytes } else { return nil } }
        XCTAssertEqual(stdout.flatMap { $0 }, Array("in more".utf8))

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tunnel-walk-\(UUID().uuidString)").path
        try agent.makeDirectory(path(root + "/a/b"), parents: true)
        try agent.symlink(path(root + "/a/link"), to: path("b"))
        var seen: [String] = []
        try agent.walk(path(root)) { (visited, entry) throws(TunnelError) in
            seen.append(String(decoding: visited, as: UTF8.self).replacingOccurrences(of: root, with: "") + " " + entry.type)
        }
        XCTAssertEqual(seen.sorted(), ["/a dir", "/a/b dir", "/a/link link"])
        XCTAssertEqual(try agent.readLink(path(root + "/a/link")), path("b"))
        try agent.remove(path(root), recursive: true)
        XCTAssertNil(try agent.status(path(root)))
        let captured = try agent.run(RunOptions(["sh", "-c", "exec sleep 5"]).with { $0.timeout = 0.2 })
        XCTAssertTrue(captured.timedOut)
        agent.close()
    }
}

final class CancellationTests: XCTestCase {
    /// Cancelling the task ends the transport: the call fails, the agent's command goes.
    func testCancelledPerformEndsTheSession() async throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        let started = Date()
        let task = Task { try await agent.perform { (connection) throws(TunnelError) in try connection.run(RunOptions(["sleep", "30"])) } }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("the run finished although cancelled")
        } catch let error as TunnelError {
            guard case .transport = error else { return XCTFail("\(error)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }
}

extension RunOptions {
    func with(_ change: (inout RunOptions) -> Void) -> RunOptions {
        var copy = self
        change(&copy)
        return copy
    }
}

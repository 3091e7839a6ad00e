import Foundation
@testable import TunnelClient
import TunnelWire
import XCTest

/// The client library used from several tasks and threads at once (issue 21, "the client
/// library's own system layer"). `make test-sanitize` also runs these under ThreadSanitizer.
final class ClientConcurrencyTests: XCTestCase {
    /// `StreamedRun.send` from one task while another reads the events: every byte arrives,
    /// in order, and the run ends normally.
    func testSendFromAnotherTaskWhileEventsAreRead() async throws {
        let agent = try TunnelConnection(route: .command([TunnelConnectionTests.agent]), negotiating: true)
        var options = RunOptions(["cat"])
        options.stdin = []
        let run = try agent.startStreamedRun(options)
        let lines = (0..<300).map { "line \($0)\n" }
        let sender = Task.detached {
            for line in lines { try run.send(Array(line.utf8)) }
            try run.closeInput()
        }
        var stdout: [UInt8] = []
        var ending: RunEvent?
        for try await event in run.events() {
            if case .output(.stdout, let bytes) = event { stdout += bytes } else { ending = event }
        }
        try await sender.value
        XCTAssertEqual(ending, .finished(returncode: 0, timedOut: false))
        XCTAssertEqual(String(decoding: stdout, as: UTF8.self), lines.joined())
        agent.close()
    }

    /// Connections opened from several threads at once: no transport holds a pipe end of
    /// another connection (pipe2 with O_CLOEXEC, not pipe and then fcntl).
    func testConnectionsOpenedAtOnceDoNotShareTheirPipes() throws {
        let before = Self.pipeInodes(of: "self")
        let lock = NSLock()
        var connections: [TunnelConnection] = []
        var failures: [Error] = []
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            do {
                let connection = try TunnelConnection(command: [TunnelConnectionTests.agent])
                lock.lock()
                connections.append(connection)
                lock.unlock()
            } catch {
                lock.lock()
                failures.append(error)
                lock.unlock()
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures)")
        let ours = Self.pipeInodes(of: "self").subtracting(before)
        for connection in connections {
            let inherited = Self.pipeInodes(of: "\(connection.transport.pid)", from: 3)
            XCTAssertTrue(inherited.isDisjoint(with: ours), "agent \(connection.transport.pid) holds our pipes")
        }
        for connection in connections { XCTAssertEqual(connection.close(), 0) }
    }

    /// The pipes among a process's descriptors (numbered `from` and up), by inode.
    static func pipeInodes(of process: String, from lowest: Int = 0) -> Set<String> {
        let folder = "/proc/\(process)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var found = Set<String>()
        for name in names where (Int(name) ?? -1) >= lowest {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + name),
               target.hasPrefix("pipe:") {
                found.insert(target)
            }
        }
        return found
    }
}

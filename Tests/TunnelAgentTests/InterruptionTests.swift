@testable import TunnelAgent
import Foundation
import TunnelHash
import TunnelWire
import XCTest

/// An interval timer fires SIGALRM every millisecond, with a handler and without
/// SA_RESTART, so that every blocking call of the agent returns EINTR again and again,
/// while a Session in this process serves a 256 MiB upload, download and `cat`. The results
/// must be exact: EINTR is handled everywhere (in one place: `retryingInterrupts`).
final class InterruptionTests: XCTestCase {
    static let size = 256 << 20

    func testSignalsEveryMillisecondDuringLongTransfers() throws {
        let directory = NSTemporaryDirectory() + "tunnel-interrupt-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/big"

        var toAgent: [Int32] = [0, 0]
        var fromAgent: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&toAgent), 0)
        XCTAssertEqual(pipe(&fromAgent), 0)

        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGALRM, &action, nil)
        // The signal is for the agent's thread: every other thread (this one, the writer it
        // starts, XCTest's) blocks it, so the kernel delivers it there.
        var alarm = sigset_t()
        sigemptyset(&alarm)
        sigaddset(&alarm, SIGALRM)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &alarm, &previousMask)
        defer { pthread_sigmask(SIG_SETMASK, &previousMask, nil) }
        var timer = itimerval(it_interval: timeval(tv_sec: 0, tv_usec: 1000), it_value: timeval(tv_sec: 0, tv_usec: 1000))
        setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &timer, nil)
        defer {
            var off = itimerval()
            setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &off, nil)
            // Ignored, not back to the default: a signal the timer raised just before it
            // stopped may still be pending, and by default it would end the test process.
            signal(SIGALRM, SIG_IGN)
        }

        let agentDone = DispatchSemaphore(value: 0)
        let status = Status()
        let (agentInput, agentOutput, requestOutput) = (toAgent[0], fromAgent[1], toAgent[1])
        Thread {
            var alarm = sigset_t()
            sigemptyset(&alarm)
            sigaddset(&alarm, SIGALRM)
            pthread_sigmask(SIG_UNBLOCK, &alarm, nil)
            status.value = Session(inputFD: agentInput, outputFD: agentOutput).run()
            close(agentOutput)
            agentDone.signal()
        }.start()

        // The requests: Upload(target, pattern), Download(target), ProcessRun(cat, stdin:
        // pattern), Exit. The 256 MiB payloads are written piece by piece.
        Thread {
            let fd = requestOutput
            var header = ByteWriter()
            header.writeU32(PacketID.upload.rawValue)
            header.writeString(target)
            header.writeU64(UInt64(Self.size))
            writeFully(fd, header.bytes)
            writePattern(fd)
            var rest = ByteWriter()
            for _ in 0..<3 { rest.writeBool(false) }
            Download(file: target).encode(to: &rest)
            rest.writeU32(PacketID.processRun.rawValue)
            rest.writeStringList(["cat"])
            rest.writeBool(true)
            rest.writeU64(UInt64(Self.size))
            writeFully(fd, rest.bytes)
            writePattern(fd)
            var tail = ByteWriter()
            tail.writeBool(true)          // capture_output
            for _ in 0..<4 { tail.writeBool(false) }
            Exit().encode(to: &tail)
            writeFully(fd, tail.bytes)
            close(fd)
        }.start()

        let answers = AnswerReader(fd: fromAgent[0])
        XCTAssertEqual(answers.u32(), PacketID.ok.rawValue)
        XCTAssertEqual(answers.u32(), PacketID.downloadResult.rawValue)
        XCTAssertEqual(answers.u64(), UInt64(Self.size))
        XCTAssertEqual(answers.digest(of: Self.size), Self.patternDigest)
        XCTAssertEqual(answers.u32(), PacketID.processCompleted.rawValue)
        XCTAssertTrue(answers.bool())
        XCTAssertEqual(answers.u64(), UInt64(Self.size))
        XCTAssertEqual(answers.digest(of: Self.size), Self.patternDigest)
        XCTAssertTrue(answers.bool())
        XCTAssertEqual(answers.u64(), 0)
        XCTAssertEqual(answers.u32(), 0)   // returncode
        agentDone.wait()
        XCTAssertEqual(status.value, 0)
        close(fromAgent[0])
        close(toAgent[0])
    }

    /// A 256 MiB pattern: every 8-byte word its own offset.
    static let patternChunk: [UInt8] = (0..<(1 << 20) / 8).flatMap { word -> [UInt8] in
        withUnsafeBytes(of: UInt64(word).bigEndian) { Array($0) }
    }

    static let patternDigest: [UInt8] = {
        var hasher = SHA512()
        for index in 0..<(size >> 20) { hasher.update(chunk(index)) }
        return hasher.finalize()
    }()

    /// The `index`th MiB of the pattern.
    static func chunk(_ index: Int) -> [UInt8] {
        var bytes = patternChunk
        bytes[0] = UInt8(truncatingIfNeeded: index)
        return bytes
    }
}

private final class Status: @unchecked Sendable { var value: Int32 = -1 }

private func writePattern(_ fd: Int32) {
    for index in 0..<(InterruptionTests.size >> 20) { writeFully(fd, InterruptionTests.chunk(index)) }
}

/// write(2) until done, retrying what the timer interrupts.
private func writeFully(_ fd: Int32, _ bytes: [UInt8]) {
    var done = 0
    bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let count = write(fd, raw.baseAddress! + done, raw.count - done)
            if count < 0 && errno == EINTR { continue }
            precondition(count > 0, "write to the agent failed")
            done += count
        }
    }
}

/// Reads answers exactly, retrying what the timer interrupts.
private final class AnswerReader {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }

    func read(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        bytes.withUnsafeMutableBytes { raw in
            while done < count {
                let got = Foundation.read(fd, raw.baseAddress! + done, count - done)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { return }
                done += got
            }
        }
        return Array(bytes[0..<done])
    }

    func u32() -> UInt32 { read(4).reduce(0) { $0 << 8 | UInt32($1) } }
    func u64() -> UInt64 { read(8).reduce(0) { $0 << 8 | UInt64($1) } }
    func bool() -> Bool { read(1).first != 0 }

    func digest(of count: Int) -> [UInt8] {
        var hasher = SHA512()
        var remaining = count
        while remaining > 0 {
            let piece = read(min(remaining, 1 << 20))
            if piece.isEmpty { break }
            hasher.update(piece)
            remaining -= piece.count
        }
        return hasher.finalize()
    }
}

import TunnelClient
import TunnelWire
import XCTest

/// A Failure is classified once, from its step and errno; its message is never read.
final class TunnelErrorTests: XCTestCase {
    func failure(_ step: FailureStep, _ errno: Int64, _ subject: String = "", message: String = "any words") -> Failure {
        Failure(step: step, errno: errno, subject: Array(subject.utf8), message: message)
    }

    func testAProgramThatDoesNotExistIs127WhateverTheMessageSays() {
        let missing = TunnelError(failure(.execute, 2, "no\\such", message: "[Errno 2] No such file or directory: 'x'"))
        XCTAssertEqual(missing.commandStartStatus, 127)
        XCTAssertEqual(TunnelError(failure(.execute, 13, "/etc/passwd")).commandStartStatus, 126)
        XCTAssertEqual(TunnelError(failure(.execute, 8, "/bin/garbage")).commandStartStatus, 126)
        guard case .commandNotStarted(.execute, let error) = missing else { return XCTFail("\(missing)") }
        XCTAssertEqual(error.errno, 2)
        XCTAssertEqual(error.strerror, "No such file or directory")
    }

    func testASwitchOfIdentityWithAnErrnoIsACommandNotStartedForThatStep() {
        let refused = TunnelError(failure(.prepareChild, 1))
        XCTAssertNil(refused.commandStartStatus)   // not a missing program: exit 1, not 126
        guard case .commandNotStarted(.prepareChild, let error) = refused else { return XCTFail("\(refused)") }
        XCTAssertEqual(error.strerror, "Operation not permitted")
    }

    func testAFolderThatCannotBeEnteredIsNotAMissingProgram() {
        let error = TunnelError(failure(.changeDirectory, 2, "/nonexistent"))
        XCTAssertNil(error.commandStartStatus)
        guard case .commandNotStarted(.changeDirectory, _) = error else { return XCTFail("\(error)") }
    }

    func testTheOriginalsCasesAreKeptForWhatTheyCanSay() {
        XCTAssertEqual(TunnelError(failure(.field, 0, "mode", message: "Invalid value '9'")),
                       .invalidField(InvalidField(field: "mode", errorMessage: "Invalid value '9'")))
        XCTAssertEqual(TunnelError(failure(.prepareChild, 0, message: "Exception occurred in preexec_fn.")),
                       .processError("Exception occurred in preexec_fn."))
        guard case .remoteOSError(let error) = TunnelError(failure(.file, 17, "/srv", message: "m")) else {
            return XCTFail("a file operation's errno is a remoteOSError")
        }
        XCTAssertEqual(error, TunnelWire.OSError(errno: 17, strerror: "File exists", msg: "m"))
        XCTAssertNil(TunnelError(failure(.file, 2, "/srv")).commandStartStatus)
    }

    func testAStepThisClientDoesNotKnowStaysARefusal() {
        let policy = failure(.policy, 0, "RunEx")
        XCTAssertEqual(TunnelError(policy), .refused(policy))
        let newer = failure(FailureStep(rawValue: 200), 5)
        XCTAssertEqual(TunnelError(newer), .refused(newer))
    }

    /// fora's Python wording ("[Errno 2] …: '/x'") is shown as GNU tools word it.
    func testAnOSErrorIsShownInPlainWords() {
        let plain = TunnelWire.OSError.plainText(of:)
        XCTAssertEqual(plain("[Errno 2] No such file or directory: '/x'"), "'/x': No such file or directory")
        XCTAssertEqual(plain("[Errno 2] No such file or directory: 'a' -> 'b'"), "'a' -> 'b': No such file or directory")
        XCTAssertEqual(plain("[Errno 2] No such file or directory: \"it's\""), "\"it's\": No such file or directory")
        XCTAssertEqual(plain("[Errno 28] No space left on device"), "No space left on device")
        XCTAssertEqual(plain("[Errno 13] Permission denied: \"Upload refused by the agent's --read-only\""),
                       "Upload refused by the agent's --read-only (Permission denied)")
        XCTAssertEqual(plain("The directory does not exist"), "The directory does not exist")
        let error = TunnelError.remoteOSError(OSError(errno: 2, strerror: "No such file or directory",
                                                      msg: "[Errno 2] No such file or directory: '/x'"))
        XCTAssertEqual(error.description, "remote: '/x': No such file or directory")
    }
}

import CPosix
@testable import TunnelAgent
import TunnelWire
import XCTest

/// The restricted agent's decisions, without a session (the end-to-end side is
/// Tests/conformance/test_restricted.py).
final class RestrictionTests: XCTestCase {
    func testReadOnlyRefusesExactlyTheRequestsThatWrite() {
        let policy = RequestPolicy(readOnly: true)
        let refused = PacketID.allCases.filter { $0.isRequest && policy.refusal(of: $0) != nil }
        XCTAssertEqual(refused, [.processRun, .upload, .runEx, .makeDir, .remove, .rename, .setMetadata, .symlink,
                                 .uploadBeneath, .createBeneath, .setMetadataBeneath, .removeBeneath, .runTerminal])
    }

    func testTheSessionsOwnRequestsAreAlwaysServed() {
        let policy = RequestPolicy(readOnly: true, allowed: [], denied: PacketID.allCases, rooted: true)
        for id in [PacketID.checkAlive, .exit, .hello, .input, .closeInput, .signal, .windowSize] {
            XCTAssertNil(policy.refusal(of: id), id.name)
        }
        XCTAssertEqual(policy.refusal(of: .upload)?.optionName, "--read-only")
        XCTAssertEqual(policy.refusal(of: .stat)?.optionName, "--deny")
    }

    func testRootRefusesProcessesAndAllowListsTheRest() {
        let policy = RequestPolicy(allowed: [.stat, .processRun], rooted: true)
        XCTAssertEqual(policy.refusal(of: .processRun)?.optionName, "--root")
        XCTAssertEqual(policy.refusal(of: .runEx)?.optionName, "--root")
        XCTAssertEqual(policy.refusal(of: .runTerminal)?.optionName, "--root")
        XCTAssertNil(policy.refusal(of: .stat))
        XCTAssertEqual(policy.refusal(of: .download)?.optionName, "--allow")
    }

    func testRequestNamesAreDocsProtocolsInAnyCase() {
        XCTAssertEqual(RequestPolicy.request(named: "upload"), .upload)
        XCTAssertEqual(RequestPolicy.request(named: "STATPATH"), .statPath)
        XCTAssertNil(RequestPolicy.request(named: "PacketUpload"))
        XCTAssertNil(RequestPolicy.request(named: "StatResult"), "an answer is no request")
        XCTAssertEqual(RequestPolicy.request(named: "statnumbers"), .statNumbers)
        XCTAssertNil(RequestPolicy.request(named: "StatNumbersResult"), "an answer is no request")
        XCTAssertNil(RequestPolicy(readOnly: true).refusal(of: .statNumbers), "it only reads")
        XCTAssertEqual(PacketID.processRun.requestName, "ProcessRun")
        XCTAssertEqual(PacketID.listDir.requestName, "ListDir")
    }

    func testRefusalsNameTheOptionAsPythonsOSErrorWould() {
        let refusal = RefusedRequest.answer(to: .upload, refusedBy: .readOnly)
        guard case .refusedByPolicy(let reason) = refusal else { return XCTFail("not a policy refusal") }
        // The originals' OSError (Session.encode), and the extensions' Failure of step policy.
        XCTAssertEqual(Errno(EACCES).pythonMessage(path: reason),
                       "[Errno 13] Permission denied: \"Upload refused by the agent's --read-only\"")
        XCTAssertEqual(refusal.failure.step, .policy)
        XCTAssertEqual(refusal.failure.errno, Int64(EACCES))
        XCTAssertEqual(refusal.failure.message, "Upload refused by the agent's --read-only")
    }

    func testLoggedValuesCannotForgeALineOrAField() {
        XCTAssertEqual(AuditLog.quoted(Array("/etc/a b".utf8)), "\"/etc/a b\"")
        XCTAssertEqual(AuditLog.quoted(Array("x\n\"y\\".utf8) + [0xff]), "\"x\\x0a\\x22y\\x5c\\xff\"")
        XCTAssertEqual(AuditLog.peer(from: "192.0.2.1 4242 22"), " peer=\"192.0.2.1:4242\"")
        XCTAssertEqual(AuditLog.peer(from: nil), "")
        XCTAssertEqual(AuditLog.peer(from: "garbage"), "")
    }
}

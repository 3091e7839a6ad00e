@testable import TunnelAgent
import XCTest

/// The agent's copies of Python behaviour the reference's answers depend on. Expected
/// values were printed by CPython 3.11.
final class PythonCompatibilityTests: XCTestCase {
    func testOctalLikeIntWithBase8() {
        let cases: [(String, PythonInt)] = [
            ("022", .value(0o22)), ("0o22", .value(0o22)), ("0O7", .value(7)), (" 7 ", .value(7)),
            ("-7", .value(-7)), ("+5", .value(5)), ("0_2_2", .value(0o22)), ("0o_7", .value(7)),
            ("\t17\n", .value(0o17)), ("\u{3000}7", .value(7)),
            ("8", .invalid), ("x", .invalid), ("", .invalid), ("0x12", .invalid), ("2__2", .invalid),
            ("_1", .invalid), ("1_", .invalid), ("0o", .invalid), ("- 1", .invalid), ("\u{0660}", .invalid),
            ("777777777777777777777777", .outOfRange),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(PythonInt(parsing: text, octal: true), expected, text)
        }
    }

    func testDecimalInt() {
        XCTAssertEqual(PythonInt(parsing: " 0 ", octal: false), .value(0))
        XCTAssertEqual(PythonInt(parsing: "0_0", octal: false), .value(0))
        XCTAssertEqual(PythonInt(parsing: "-0", octal: false), .value(0))
        XCTAssertEqual(PythonInt(parsing: "0o7", octal: false), .invalid)
        XCTAssertEqual(PythonInt(parsing: "9223372036854775808", octal: false), .outOfRange)
        XCTAssertEqual(PythonInt(parsing: "-9223372036854775808", octal: false), .value(Int64.min))
        XCTAssertEqual(Accounts.idNumber("-1"), UInt32.max)
        XCTAssertNil(Accounts.idNumber("4294967296"))
    }

    func testRepr() {
        XCTAssertEqual(pythonRepr(""), "''")
        XCTAssertEqual(pythonRepr("a'b"), "\"a'b\"")
        XCTAssertEqual(pythonRepr("a'b\"c"), "'a\\'b\"c'")
        XCTAssertEqual(pythonRepr("tab\tnew\nline\r\\"), "'tab\\tnew\\nline\\r\\\\'")
        XCTAssertEqual(pythonRepr("\u{1b}\u{7f}\u{85}\u{a0}"), "'\\x1b\\x7f\\x85\\xa0'")
        XCTAssertEqual(pythonRepr("\u{200b}\u{e4}\u{2603}"), "'\\u200bä☃'")
        XCTAssertEqual(pythonRepr("\u{1F600}\u{E0001}\u{D7FF}"), "'😀\\U000e0001\\ud7ff'")
        XCTAssertEqual(pythonRepr("\u{10FFFF}"), "'\\U0010ffff'")
    }

    func testErrnoWordingIsGlibcs() {
        XCTAssertEqual(Errno(2).pythonMessage(path: "/x"), "[Errno 2] No such file or directory: '/x'")
        XCTAssertEqual(Errno(13).pythonMessage(), "[Errno 13] Permission denied")
        XCTAssertEqual(Errno(40).strerror, "Too many levels of symbolic links")
        XCTAssertEqual(Errno(36).strerror, "File name too long")
        XCTAssertEqual(Errno(41).strerror, "Unknown error 41")
        XCTAssertEqual(Errno(4000).strerror, "Unknown error 4000")
    }
}

extension PythonCompatibilityTests {
    /// Trimming was quadratic: a megabyte of spaces took 31 s. Correctness here; the
    /// end-to-end test guards the time.
    func testLongWhitespaceIsTrimmed() {
        let spaces = String(repeating: " ", count: 1 << 20)
        XCTAssertEqual(PythonInt(parsing: spaces + "17" + spaces, octal: false), .value(17))
        XCTAssertEqual(PythonInt(parsing: spaces, octal: false), .invalid)
    }
}

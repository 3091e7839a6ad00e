// libFuzzer target 3: the parsers that copy the reference's or the host's formats. The
// first byte picks the parser, the rest is its input.
@testable import TunnelAgent

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 9 {
    case 0: _ = PythonInt(parsing: text, octal: true)
    case 1: _ = PythonInt(parsing: text, octal: false)
    case 2: _ = pythonRepr(text)
    case 3: _ = Getent.user(fromOutput: bytes)
    case 4: _ = Getent.group(fromOutput: bytes)
    case 5: _ = Getent.shadowHash(fromOutput: bytes)
    case 6: _ = bytes.withUnsafeBytes { GroupFile.record(line: $0) }
    case 7: _ = Accounts.idNumber(text)
    default: _ = SystemPath(bytes: bytes)?.split()
    }
    return 0
}

// The tests' window onto each SHA-512 kernel, built like the agent (scripts/build-static.sh
// also links it statically for both architectures, so that it runs under qemu).
//
//   tunnel-sha512-check KERNEL prefixes   reads stdin (at most 4096 bytes); for every
//       length L from 0 to its size, prints the digest of its first L bytes, after checking
//       that feeding those bytes in two pieces, split at every point, gives the same digest
//   tunnel-sha512-check KERNEL whole      prints the digest of all of stdin (any size)
//
// KERNEL is `best` or a kernel's name. The first line says which kernel ran. Exit status:
// 0 when done, 1 when a split disagrees, 2 for a bad command line or an unavailable kernel.
import CPosix
import TunnelAgent
import TunnelHash

let arguments = Agent.commandLineArguments()

func kernel(named name: String) -> SHA512Kernel? {
    if name.utf8.elementsEqual("best".utf8) { return .best }
    for kernel in SHA512Kernel.allCases where kernel.name.utf8.elementsEqual(name.utf8) {
        return kernel
    }
    return nil
}

func hex(_ bytes: [UInt8]) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in bytes { text.append(digits[Int(byte >> 4)]); text.append(digits[Int(byte & 15)]) }
    return String(decoding: text, as: UTF8.self)
}

/// Calls `body` with each piece of stdin as it arrives.
func readStandardInput(_ body: (UnsafeRawBufferPointer) -> Void) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if count < 0 && tp_errno() == EINTR { continue }
        if count <= 0 { return }
        buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }
}

guard arguments.count == 2, let chosen = kernel(named: arguments[0]), chosen.isAvailable else {
    print("usage: tunnel-sha512-check best|portable|avx2|armv8-sha512 prefixes|whole (an available kernel)")
    exit(2)
}
print("kernel: \(chosen.name)")
if arguments[1].utf8.elementsEqual("whole".utf8) {
    var hasher = SHA512(kernel: chosen)
    readStandardInput { hasher.update($0) }
    print(hex(hasher.finalize()))
} else {
    var message: [UInt8] = []
    readStandardInput { message.append(contentsOf: $0) }
    if message.count > 4096 { print("prefixes: at most 4096 bytes"); exit(2) }
    message.withUnsafeBytes { message in
        for length in 0...message.count {
            let prefix = UnsafeRawBufferPointer(rebasing: message[0..<length])
            var oneShot = SHA512(kernel: chosen)
            oneShot.update(prefix)
            let digest = oneShot.finalize()
            for split in 0...length {
                var pieces = SHA512(kernel: chosen)
                pieces.update(UnsafeRawBufferPointer(rebasing: prefix[0..<split]))
                pieces.update(UnsafeRawBufferPointer(rebasing: prefix[split...]))
                if pieces.finalize() != digest { print("length \(length): split at \(split) disagrees"); exit(1) }
            }
            print(hex(digest))
        }
    }
}
exit(0)

import CPosix
#if arch(x86_64)
import TunnelHashAVX2
#endif

/// The code that compresses SHA-512 blocks. `best` is chosen once, from what the CPU offers:
/// - `avx2`: x86-64 with AVX2 and BMI2 (TunnelHashAVX2, compiled for that CPU level alone);
/// - `armv8`: aarch64 with the ARMv8.2 SHA-512 instructions (a C kernel in CPosix);
/// - `portable`: the Swift rounds in SHA512.swift, for every other CPU, and whenever the
///   environment says `TUNNEL_SHA512=portable` (so that tests and benchmarks reach it on any
///   machine).
public enum SHA512Kernel: CaseIterable, Sendable {
    case portable, avx2, armv8

    /// The fastest kernel this machine runs (or `portable` when asked for).
    public static let best: SHA512Kernel = {
        if tp_sha512_portable_requested() != 0 { return .portable }
        if SHA512Kernel.avx2.isAvailable { return .avx2 }
        if SHA512Kernel.armv8.isAvailable { return .armv8 }
        return .portable
    }()

    /// Whether this CPU can run the kernel.
    public var isAvailable: Bool {
        switch self {
        case .portable: return true
        case .avx2: return SHA512Kernel.cpuHasHaswellFeatures
        case .armv8: return SHA512Kernel.cpuHasSHA512Instructions
        }
    }

    // Asked once: in a virtual machine every CPUID is a trip to the hypervisor.
    private static let cpuHasHaswellFeatures = tp_cpu_has_haswell_features() != 0
    private static let cpuHasSHA512Instructions = tp_cpu_has_sha512_instructions() != 0

    /// How `--debug` and the tests name it.
    public var name: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .armv8: return "armv8-sha512"
        }
    }

    /// Compresses `count` 128-byte blocks into `state` (the eight words a...h).
    func compress(_ state: UnsafeMutablePointer<UInt64>, blocks: UnsafeRawPointer, count: Int,
                  constants: UnsafePointer<UInt64>) {
        switch self {
        case .portable:
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 16) { ring in
                sha512CompressPortable(state, blocks: blocks, count: count, ring: ring.baseAddress!, constants: constants)
            }
        case .avx2:
            #if arch(x86_64)
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 160) { schedule in
                sha512CompressAVX2(state: state, blocks: blocks, count: count, constants: constants,
                                   schedule: schedule.baseAddress!)
            }
            #else
            fatalError("no AVX2 kernel on this architecture")
            #endif
        case .armv8:
            tp_sha512_armv8_compress(state, blocks.assumingMemoryBound(to: UInt8.self), count, constants)
        }
    }
}

// The one place that names the C library: glibc, musl or Darwin. The rest of the client
// calls these (and the POSIX functions all three share under the same names).
#if canImport(Glibc)
import Glibc
let systemRead = Glibc.read
let systemWrite = Glibc.write
let systemClose = Glibc.close
#elseif canImport(Musl)
import Musl
let systemRead = Musl.read
let systemWrite = Musl.write
let systemClose = Musl.close
#elseif canImport(Darwin)
import Darwin
let systemRead = Darwin.read
let systemWrite = Darwin.write
let systemClose = Darwin.close
#endif

/// The C library's words for an errno from the target (its number as the target's kernel
/// gave it; Linux numbers them the same on every architecture the agent runs on).
func systemErrorText(_ number: Int64) -> String {
    guard let code = Int32(exactly: number) else { return "Unknown error \(number)" }
    return String(cString: strerror(code))
}

/// ENOENT, for callers that do not import the C library themselves.
let noSuchFileErrno = Int64(ENOENT)

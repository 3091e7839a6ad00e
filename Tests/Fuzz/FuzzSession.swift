// libFuzzer target 2: a whole Session, in-process, fed one arbitrary byte stream per run:
// the loop, the codec and every handler's validation, down to the system layer. The
// process confines itself first: it chroots into a scratch tmpfs holding only a few
// harmless programs (busybox's cat, echo, true, false) and small account files, so no
// request can reach the host's files or run anything else.
import CPosix
@testable import TunnelAgent
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var discard: Int32 = -1
nonisolated(unsafe) private var runs = 0

@_cdecl("LLVMFuzzerInitialize")
public func fuzzSessionInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    discard = open("/dev/null", O_WRONLY | O_CLOEXEC)
    // libFuzzer opens its dictionary and corpus after this, through paths that mean the
    // same inside the new root (scripts/fuzz.sh).
    guard let root = getenv("TUNNEL_FUZZ_ROOT").map({ String(cString: $0) }), chroot(root) == 0, chdir("/scratch") == 0 else {
        print("FuzzSession: set TUNNEL_FUZZ_ROOT to a prepared root (scripts/fuzz.sh does) and run as root")
        exit(2)
    }
    setenv("PATH", "/bin", 1)
    setenv("TMPDIR", "/tmp", 1)
    umask(0o077)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGXFSZ, SIG_IGN)
    // libFuzzer's SIGALRM (its timeouts) and ASan's handlers must stay in place.
    tp_keep_signal_handlers()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    // An unnamed scratch file (or a memfd): the session reads it like its stdin.
    let input = tp_open_tmpfile("/tmp")
    guard input >= 0 else { return 0 }
    defer { close(input) }
    var written = 0
    while written < size {
        let count = write(input, data + written, size - written)
        guard count > 0 else { return 0 }
        written += count
    }
    lseek(input, 0, SEEK_SET)
    _ = Session(inputFD: input, outputFD: discard, durable: size % 2 == 1).run()
    runs += 1
    // What uploads left behind goes every so often, so the tmpfs never fills for good.
    if runs % 256 == 0 { removeContents(of: "/scratch") }
    return 0
}

private func removeContents(of path: String) {
    guard let directory = opendir(path) else { return }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        if unlink(child) != 0 {
            removeContents(of: child)
            rmdir(child)
        }
    }
}

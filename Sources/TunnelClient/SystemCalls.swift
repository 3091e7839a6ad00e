// The one place that names the C library: glibc, musl or Darwin, and the client's C shim
// for what Swift's modules leave out. The rest of the client calls these (and the POSIX
// functions all three share under the same names: posix_spawn in Transport.swift).
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
import CTunnelClient

/// `call` again for as long as it fails with EINTR (a signal arrived meanwhile).
func retryingInterrupts<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end), or the errno. Both ends are close-on-exec
/// from the start: with `pipe` and then `fcntl`, a transport that another thread starts in
/// between inherits them (two connections opened at once held each other's pipes).
func closeOnExecPipe() -> Result<(read: Int32, write: Int32), SystemError> {
    var fds: [Int32] = [-1, -1]
    guard tc_pipe_cloexec(&fds) == 0 else { return .failure(SystemError(errno)) }
    return .success((fds[0], fds[1]))
}

/// An errno, with its message.
struct SystemError: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
    var message: String { String(cString: strerror(code)) }
}

/// `waitpid` until it has a status (not interrupted by a signal).
func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    _ = retryingInterrupts { waitpid(pid, &status, 0) }
    return status
}

/// A mutual-exclusion lock. The pthread mutex lives at an address of its own that never
/// moves: a `pthread_mutex_t` stored property passed with `&` is not guaranteed one.
public final class Mutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock.
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Waits until one of `fds` is ready, like `poll` with no time limit, with `signals`
/// deliverable only while it waits (`ppoll`). The caller keeps them blocked otherwise
/// (`SignalsBlocked`), so a signal that comes after its last check and before the wait
/// interrupts the wait (EINTR) instead of being noticed only when something else happens.
public func waitForReadiness(_ fds: inout [pollfd], deliverable signals: SignalsBlocked) -> Int32 {
    fds.withUnsafeMutableBufferPointer { buffer in
        withUnsafePointer(to: signals.maskWhileWaiting) { tc_ppoll(buffer.baseAddress, UInt(buffer.count), $0) }
    }
}

/// Blocks `signals` in this thread until `restore()`; `waitForReadiness` lets them in.
public final class SignalsBlocked {
    private var previous = sigset_t()
    fileprivate private(set) var maskWhileWaiting = sigset_t()

    public init(_ signals: [Int32]) {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for number in signals { sigaddset(&blocked, number) }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        maskWhileWaiting = previous
        for number in signals { sigdelset(&maskWhileWaiting, number) }
    }

    /// The mask as it was.
    public func restore() {
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}

import CPosix

/// An errno value. Its wording (`strerror`, Python's message) is the reference's, see
/// PythonCompat/OSErrorMessages.swift.
public struct Errno: Error, Equatable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }

    /// errno as the last failed libc call left it.
    static var current: Errno { Errno(tp_errno()) }

    static let interrupted = Errno(EINTR)
    static let noEntry = Errno(ENOENT)
    static let exists = Errno(EEXIST)
    static let isDirectory = Errno(EISDIR)
    static let fileTooLarge = Errno(EFBIG)
    static let brokenPipe = Errno(EPIPE)
    static let invalidArgument = Errno(EINVAL)
    static let notPermitted = Errno(EPERM)
}

/// Calls `body` until it does not fail with EINTR: the one place in the agent that retries
/// interrupted calls. Returns the non-negative result, or throws errno.
@inline(__always)
func retryingInterrupts<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}

/// `retryingInterrupts` for calls whose only result is success or failure.
@inline(__always)
func succeedOrThrow(_ body: () -> Int32) throws(Errno) {
    _ = try retryingInterrupts(body)
}

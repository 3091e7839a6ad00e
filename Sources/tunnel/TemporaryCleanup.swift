#if canImport(Glibc)
import Glibc
#endif

/// The temporary file a download is being written to, removed when SIGINT, SIGTERM or SIGHUP
/// ends tunnel before it was renamed into place: an interrupted download leaves nothing
/// behind. One at a time (downloads are sequential). The handler uses only what a signal
/// handler may: a descriptor, a name in a buffer allocated beforehand, unlinkat and raise.
enum TemporaryCleanup {
    /// The folder's descriptor while a temporary exists in it, else -1. Written only by the
    /// main thread, with the three signals blocked, so the handler sees a whole name.
    nonisolated(unsafe) private static var folder: Int32 = -1
    nonisolated(unsafe) private static let name = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
    nonisolated(unsafe) private static var installed = false
    private static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// From now until `forget`, the signals remove `name` in `folder` before ending tunnel.
    static func remember(_ temporary: [UInt8], in folder: Int32) {
        precondition(temporary.count < 256)
        install()
        withSignalsBlocked {
            temporary.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(name).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            }
            name[temporary.count] = 0
            self.folder = folder
        }
    }

    /// The temporary was renamed or removed: nothing to clean up any more.
    static func forget() {
        withSignalsBlocked { folder = -1 }
    }

    private static func install() {
        guard !installed else { return }
        installed = true
        // Swift initializes statics on first use: done here, never inside the handler.
        _ = (folder, name)
        for number in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if TemporaryCleanup.folder >= 0 { unlinkat(TemporaryCleanup.folder, TemporaryCleanup.name, 0) }
                // Then the signal's own ending (the exit status says which signal it was).
                signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            for other in signals { sigaddset(&action.sa_mask, other) }
            sigaction(number, &action, nil)
        }
    }

    private static func withSignalsBlocked(_ body: () -> Void) {
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        for number in signals { sigaddset(&blocked, number) }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        body()
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The temporary file a download is being written to, removed when SIGINT, SIGTERM or SIGHUP
/// ends tunnel before it was renamed into place: an interrupted download leaves nothing
/// behind. One at a time (downloads are sequential). The handler uses only what a signal
/// handler may: a descriptor, a name in a buffer allocated beforehand, unlinkat and raise.
enum TemporaryCleanup {
    /// The folder's descriptor while a temporary exists in it, else -1. Written only by the
    /// main thread: -1 while the name is being written, the descriptor once it is whole, so
    /// the handler never sees half a name. An atomic (lock-free, so usable in a handler)
    /// rather than blocking the signals around each write: that cost four rt_sigprocmask
    /// per file of a pull (docs/performance.md).
    private static let folder = Atomic<Int32>(-1)
    nonisolated(unsafe) private static let name = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
    nonisolated(unsafe) private static var installed = false
    private static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// From now until `forget`, the signals remove `name` in `folder` before ending tunnel.
    static func remember(_ temporary: [UInt8], in folder: Int32) {
        precondition(temporary.count < 256)
        install()
        self.folder.store(-1, ordering: .sequentiallyConsistent)
        temporary.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(name).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
        }
        name[temporary.count] = 0
        // Release: the name's bytes are written before the handler can see the descriptor.
        self.folder.store(folder, ordering: .releasing)
    }

    /// The temporary was renamed or removed: nothing to clean up any more.
    static func forget() {
        folder.store(-1, ordering: .sequentiallyConsistent)
    }

    private static func install() {
        guard !installed else { return }
        installed = true
        // Swift initializes statics on first use: done here, never inside the handler.
        _ = (folder.load(ordering: .relaxed), name)
        for number in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                let folder = TemporaryCleanup.folder.load(ordering: .acquiring)
                if folder >= 0 { unlinkat(folder, TemporaryCleanup.name, 0) }
                // Then the signal's own ending (the exit status says which signal it was).
                signal(number, SIG_DFL)
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            for other in signals { sigaddset(&action.sa_mask, other) }
            sigaction(number, &action, nil)
        }
    }
}

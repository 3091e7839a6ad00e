import CPosix
import TunnelWire

/// A new file while an upload writes it, in the directory of the file it will replace.
/// Unnamed (O_TMPFILE) where the filesystem allows and it can be named later (as root, or
/// with /proc): then it gets a name only for the single system call between `linkat` and
/// `rename` of a replacement (a new file is linked to its own name directly), the one moment
/// SIGKILL can leave it behind. Elsewhere it has a short random name from
/// the start (so that a 255-byte target name still fits), removed on release and by the
/// handler of any fatal signal that can be caught.
final class Temporary {
    let file: FileDescriptor
    /// Its name in the directory, while it has one.
    private(set) var currentName: SystemPath?

    init(in directory: borrowing FileDescriptor) throws(Errno) {
        if Temporary.unnamedFilesCanBeNamed, let unnamed = try? directory.openUnnamedFile(mode: 0o666) {
            file = unnamed
            return
        }
        // O_EXCL: an existing name, a symlink among them, is never opened.
        for _ in 0..<16 {
            let candidate = TemporaryNames.next()
            do throws(Errno) {
                file = try directory.open(candidate, O_RDWR | O_CREAT | O_EXCL, mode: 0o666)
            } catch where error == .exists {
                continue
            }
            currentName = candidate
            Temporary.removeOnFatalSignal(candidate, in: directory)
            return
        }
        throw Errno.exists
    }

    /// Gives an unnamed file a temporary name in `directory` (its existing name otherwise).
    func name(in directory: borrowing FileDescriptor) throws(Errno) -> SystemPath {
        if let currentName { return currentName }
        for _ in 0..<16 {
            let candidate = TemporaryNames.next()
            do throws(Errno) {
                try directory.link(unnamed: file, as: candidate)
            } catch where error == .exists {
                continue
            }
            currentName = candidate
            Temporary.removeOnFatalSignal(candidate, in: directory)
            return candidate
        }
        throw Errno.exists
    }

    /// Names an unnamed file `name` directly, for a target that did not exist: true when
    /// done, false when it has a temporary name or `name` appeared meanwhile (then it has
    /// to be renamed over it).
    func linkAsNew(in directory: borrowing FileDescriptor, name: SystemPath) throws(Errno) -> Bool {
        guard currentName == nil else { return false }
        do throws(Errno) {
            try directory.link(unnamed: file, as: name)
            return true
        } catch where error == .exists {
            return false
        }
    }

    /// The name became the target's (renamed): nothing to remove any more.
    func forgetName() {
        currentName = nil
        tp_set_temporary_name(-1, nil)
    }

    /// Removes the temporary name, if there is one.
    func remove(from directory: borrowing FileDescriptor) {
        guard let currentName else { return }
        try? directory.removeFile(currentName)
        forgetName()
    }

    private static func removeOnFatalSignal(_ name: SystemPath, in directory: borrowing FileDescriptor) {
        _ = try? name.withCString { (text) throws(Errno) in tp_set_temporary_name(directory.rawValue, text) }
    }

    /// An unnamed file can be linked with AT_EMPTY_PATH as root, or through /proc/self/fd.
    private static let unnamedFilesCanBeNamed: Bool =
        geteuid() == 0 || access("/proc/self/fd", X_OK) == 0
}

/// Short random names for temporaries: `.tunnel-` and eight hex digits. Seeded once per
/// agent from the system's randomness, then stepped: no system call per upload. Names are
/// only ever created exclusively, so guessing one gains nothing.
enum TemporaryNames {
    nonisolated(unsafe) private static var state: UInt64 = 0

    static func next() -> SystemPath {
        if state == 0 { state = UInt64.random(in: 1...UInt64.max) }
        // A 64-bit LCG (Knuth's MMIX constants); the high half is the well-mixed part.
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let digits = hexDigits(UInt32(truncatingIfNeeded: state >> 32), width: 8)
        return SystemPath(validBytes: Array(".tunnel-".utf8) + Array(digits.utf8))
    }
}

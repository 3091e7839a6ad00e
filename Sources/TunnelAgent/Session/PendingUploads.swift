/// Durable mode (`--durable`): consecutive uploads are synced as one group instead of one
/// fsync each, as dpkg does. Each is prepared and its writeback started when it arrives;
/// the group completes (sync every file, publish them in order, sync their directories,
/// answer them in order) before anything else happens: before the session waits for input,
/// before any other request is handled or answered, before an upload to a target already
/// in the group, when the group is full, and at the end. So a request that follows an
/// upload always sees it in place, and answers keep their order. The group's answers wait
/// in `answers` until the session sends them (it alone writes answers), ahead of any other.
final class PendingUploads {
    private var uploads: [(replacement: FileReplacement, file: String)] = []
    /// The answers of completed uploads, in order, not sent yet.
    private(set) var answers: [Answer] = []

    /// Each pending upload holds three descriptors (directory, temporary, old file).
    static let capacity = 32

    /// Whether the group must complete before another upload joins it.
    var isFull: Bool { uploads.count >= PendingUploads.capacity }

    /// The completed uploads' answers, in order; for the session to send.
    func takeAnswers() -> [Answer] {
        defer { answers.removeAll() }
        return answers
    }

    func add(_ replacement: FileReplacement, file: String) {
        replacement.startWriteback()
        uploads.append((replacement, file))
    }

    /// Whether `replacement` aims at the same file as one still pending.
    func contains(targetOf replacement: FileReplacement) -> Bool {
        uploads.contains { $0.replacement.sharesTarget(with: replacement) }
    }

    /// Whether a group is waiting, or answers are (the session's per-request check).
    @inline(__always)
    var isIdle: Bool { uploads.isEmpty && answers.isEmpty }

    func complete() {
        guard !uploads.isEmpty else { return }
        var failures: [UploadFailure?] = []
        for upload in uploads {
            do throws(UploadFailure) {
                try upload.replacement.synchronizeData()
                failures.append(nil)
            } catch {
                failures.append(error)
            }
        }
        for (index, upload) in uploads.enumerated() where failures[index] == nil {
            do throws(UploadFailure) { try upload.replacement.publish() } catch { failures[index] = error }
        }
        // One fsync per directory, not per file.
        var synced: [FileReplacement] = []
        for (index, upload) in uploads.enumerated() where failures[index] == nil {
            if synced.contains(where: { $0.sharesDirectory(with: upload.replacement) }) { continue }
            do throws(UploadFailure) {
                try upload.replacement.synchronizeDirectory()
                synced.append(upload.replacement)
            } catch {
                failures[index] = error
            }
        }
        let answered = uploads
        uploads.removeAll()
        for (index, upload) in answered.enumerated() {
            if let failure = failures[index] {
                answers.append(.refused(.osError(failure.errno, path: failure.namesFile ? upload.file : nil)))
            } else {
                answers.append(.ok)
            }
        }
    }
}

import CPosix
import TunnelWire

extension Refusal {
    /// This refusal as an extension's `Failure`: the errno and the step as fields, and the
    /// words the originals' packet would carry as the message (docs/protocol.md, "Failure").
    var failure: Failure {
        switch self {
        case .invalidField(let field, let message):
            return Failure(step: .field, errno: 0, subject: Array(field.utf8), message: message)
        case .osError(let error, let path):
            return Self.failure(path == nil ? .system : .file, error, path: path)
        case .childNotStarted(let step, let error, let path):
            return Self.failure(step, error, path: path)
        case .refusedByPolicy(let reason):
            return Failure(step: .policy, errno: Int64(EACCES), subject: [], message: reason)
        case .processError(let message):
            // ProcessError is the child's preexec step (identity, umask), which has no errno.
            return Failure(step: .prepareChild, errno: 0, subject: [], message: message)
        }
    }

    private static func failure(_ step: FailureStep, _ error: Errno, path: String?) -> Failure {
        Failure(step: step, errno: Int64(error.code), subject: path.map { Array($0.utf8) } ?? [],
                message: error.pythonMessage(path: path))
    }
}

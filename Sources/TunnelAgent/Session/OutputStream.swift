import CPosix
import TunnelWire

/// Buffered writer on the session's output (the agent's stdout). It never ends the process
/// itself: a failed write (the client is gone) or an abandoned payload is recorded in
/// `failure`, everything after it is dropped, and the session ends when it sees it.
public final class OutputStream: WireWriter {
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var used = 0
    /// TP_FD_PIPE, TP_FD_SOCKET or TP_FD_OTHER: how `writeWhatFits` writes without blocking.
    private let kind: Int32
    /// Why nothing more can reach the client; set once.
    private(set) var failure: WireError?
    /// Extension requests are refused with `Failure` on this stream: the client's Hello asked
    /// for it (set as HelloResult is written, see Session.encode).
    var structuredFailures = false

    public init(fd: Int32) {
        self.fd = fd
        kind = tp_descriptor_kind(fd)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ioChunkSize, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        // Ids: stored without a call into memcpy (a pipelined Ack is one u32).
        if bytes.count == 4 && used + 4 <= buffer.count && failure == nil {
            (buffer.baseAddress! + used).storeBytes(of: bytes.loadUnaligned(as: UInt32.self), as: UInt32.self)
            used += 4
            return
        }
        guard bytes.count > 0, failure == nil else { return }
        if bytes.count > buffer.count - used {
            flush()
            if bytes.count >= buffer.count {
                writeOut(bytes)
                return
            }
        }
        (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    public func abandon(reason: String) {
        // What was complete before the abandoned payload still reaches the client.
        flush()
        if failure == nil { failure = .abandoned(reason) }
    }

    public func flush() {
        guard used > 0, failure == nil else { return }
        writeOut(UnsafeRawBufferPointer(start: buffer.baseAddress, count: used))
        used = 0
    }

    /// Bytes encoded and not yet written.
    var pendingByteCount: Int { used }

    /// Writes what the channel takes now, without waiting and without changing the
    /// descriptor's flags: they belong to an open file description that the agent shares
    /// (one socket as stdin and stdout, a terminal that outlives a SIGKILLed agent). A pipe
    /// (or terminal) that polls writable takes PIPE_BUF bytes without blocking; a socket
    /// takes what `send(MSG_DONTWAIT)` fits. A streamed run calls this when poll said
    /// POLLOUT, so that it never waits on a client that does not read.
    func writeWhatFits() {
        var written = 0
        while used - written > 0 && failure == nil {
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard (try? retryingInterrupts({ poll(&ready, 1, 0) })) == 1 else { break }
            if ready.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                failure = .abandoned("Cannot write to the data stream: " + Errno.brokenPipe.strerror)
                break
            }
            guard ready.revents & Int16(POLLOUT) != 0 else { break }
            let start = buffer.baseAddress! + written
            do throws(Errno) {
                if kind == TP_FD_SOCKET {
                    written += try retryingInterrupts { Int(tp_send_nonblocking(fd, start, used - written)) }
                } else {
                    written += try retryingInterrupts { CPosix.write(fd, start, min(used - written, pipeAtomicSize)) }
                }
            } catch {
                if error != Errno(EAGAIN) { failure = .abandoned("Cannot write to the data stream: " + error.strerror) }
                break
            }
        }
        guard written > 0 else { return }
        memmove(buffer.baseAddress!, buffer.baseAddress! + written, used - written)
        used -= written
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) {
        do throws(Errno) {
            try writeFully(fd: fd, bytes)
        } catch {
            failure = .abandoned("Cannot write to the data stream: " + error.strerror)
        }
    }
}

/// PIPE_BUF on Linux: a pipe that polls writable takes this many bytes without blocking.
private let pipeAtomicSize = 4096

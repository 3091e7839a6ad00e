// libFuzzer target 1: the decoder. The input is a stream of packets, decoded one after the
// other as the agent (requests) and the client (answers) decode them, until one fails.
// Nothing may trap, hang, or allocate what a length merely declares.
@testable import TunnelWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    for limits in [WireLimits.agent, WireLimits.client] {
        var reader = ByteReader(Array(UnsafeBufferPointer(start: data, count: size)), limits: limits)
        while !reader.isAtEnd {
            guard let id = try? reader.readPacketID(), decode(id, from: &reader) else { break }
            _ = reader.takeInvalidField()
        }
    }
    return 0
}

/// Decodes the fields of one packet; false when they were malformed or cut short.
private func decode(_ id: PacketID, from reader: inout ByteReader) -> Bool {
    do throws(WireError) {
        switch id {
        case .ok: _ = try Ok.decodeFields(from: &reader)
        case .ack: _ = try Ack.decodeFields(from: &reader)
        case .checkAlive: _ = try CheckAlive.decodeFields(from: &reader)
        case .exit: _ = try Exit.decodeFields(from: &reader)
        case .osError: _ = try OSError.decodeFields(from: &reader)
        case .invalidField: _ = try InvalidField.decodeFields(from: &reader)
        case .processCompleted: _ = try ProcessCompleted<[UInt8]>.decodeFields(from: &reader)
        case .processError: _ = try ProcessError.decodeFields(from: &reader)
        case .processRun: _ = try ProcessRun<[UInt8]>.decodeFields(from: &reader)
        case .statResult: _ = try StatResult.decodeFields(from: &reader)
        case .stat: _ = try Stat.decodeFields(from: &reader)
        case .resolveResult: _ = try ResolveResult.decodeFields(from: &reader)
        case .resolveUser: _ = try ResolveUser.decodeFields(from: &reader)
        case .resolveGroup: _ = try ResolveGroup.decodeFields(from: &reader)
        case .upload: _ = try Upload<[UInt8]>.decodeFields(from: &reader)
        case .downloadResult: _ = try DownloadResult<[UInt8]>.decodeFields(from: &reader)
        case .download: _ = try Download.decodeFields(from: &reader)
        case .userEntry: _ = try UserEntry.decodeFields(from: &reader)
        case .queryUser: _ = try QueryUser.decodeFields(from: &reader)
        case .groupEntry: _ = try GroupEntry.decodeFields(from: &reader)
        case .queryGroup: _ = try QueryGroup.decodeFields(from: &reader)
        case .environVar: _ = try EnvironVar.decodeFields(from: &reader)
        case .getenv: _ = try Getenv.decodeFields(from: &reader)
        case .hello: _ = try Hello.decodeFields(from: &reader)
        case .helloResult: _ = try HelloResult.decodeFields(from: &reader)
        case .runEx: _ = try RunEx<[UInt8]>.decodeFields(from: &reader)
        case .output: _ = try Output<[UInt8]>.decodeFields(from: &reader)
        case .runFinished: _ = try RunFinished<[UInt8]>.decodeFields(from: &reader)
        case .input: _ = try Input.decodeFields(from: &reader)
        case .closeInput: _ = try CloseInput.decodeFields(from: &reader)
        case .signal: _ = try Signal.decodeFields(from: &reader)
        case .listDir: _ = try ListDir.decodeFields(from: &reader)
        case .dirEntries: _ = try DirEntries.decodeFields(from: &reader)
        case .makeDir: _ = try MakeDir.decodeFields(from: &reader)
        case .remove: _ = try Remove.decodeFields(from: &reader)
        case .rename: _ = try Rename.decodeFields(from: &reader)
        case .setMetadata: _ = try SetMetadata.decodeFields(from: &reader)
        case .symlink: _ = try Symlink.decodeFields(from: &reader)
        case .readLink: _ = try ReadLink.decodeFields(from: &reader)
        case .linkTarget: _ = try LinkTarget.decodeFields(from: &reader)
        case .statPath: _ = try StatPath.decodeFields(from: &reader)
        case .failure: _ = try Failure.decodeFields(from: &reader)
        case .uploadBeneath: _ = try UploadBeneath<[UInt8]>.decodeFields(from: &reader)
        case .readBeneath: _ = try ReadBeneath.decodeFields(from: &reader)
        case .createBeneath: _ = try CreateBeneath.decodeFields(from: &reader)
        case .setMetadataBeneath: _ = try SetMetadataBeneath.decodeFields(from: &reader)
        case .removeBeneath: _ = try RemoveBeneath.decodeFields(from: &reader)
        case .statNumbers: _ = try StatNumbers.decodeFields(from: &reader)
        case .statNumbersResult: _ = try StatNumbersResult.decodeFields(from: &reader)
        case .windowSize: _ = try WindowSize.decodeFields(from: &reader)
        case .runTerminal: _ = try RunTerminal<[UInt8]>.decodeFields(from: &reader)
        }
        return true
    } catch {
        _ = error.message
        return false
    }
}

import TunnelWire

/// Upload → Ok. The content streams from the protocol into a FileReplacement prepared as
/// soon as the target's name has arrived (System/FileReplacement.swift: descriptors only,
/// the kernel's own link rules, atomic where it can be, in place where it must). Only when
/// every field has been read and validated, in the reference's order (mode, owner, group),
/// is it committed; any failure before leaves the old file untouched and nothing behind.
enum UploadHandler: RequestHandler {
    static func read(from input: inout InputStream, in context: SessionContext) throws(WireError) -> Upload<FileReplacement> {
        try Upload<FileReplacement>.decodeFields(from: &input) { (input, file, length) throws(WireError) in
            var replacement = FileReplacement(target: file)
            if context.pendingUploads.contains(targetOf: replacement) {
                // The same file again: the earlier upload must be in place before this one
                // opens what it replaces.
                context.pendingUploads.complete()
                replacement = FileReplacement(target: file)
            }
            try input.streamPayload(length: length) { replacement.append($0) }
            return replacement
        }
    }

    static func answer(_ request: Upload<FileReplacement>, in context: SessionContext) throws(Refusal) -> Answer {
        _ = try systemPath(request.file, field: "file")
        var metadata = RequestedMetadata()
        if let text = request.mode { metadata.mode = try modeField(text) }
        if let owner = request.owner {
            let user = try resolveUserField(owner, field: "owner")
            metadata.uid = user.uid
            metadata.gid = user.gid
        }
        if let group = request.group {
            metadata.gid = try resolveGroupField(group).gid
        }
        do throws(UploadFailure) {
            if context.durability == .synced {
                guard try request.content.prepare(metadata, durability: .synced) else { return .ok }
                context.pendingUploads.add(request.content, file: request.file)
                return .uploadPending
            }
            try request.content.commit(metadata, durability: context.durability)
        } catch {
            throw .osError(error.errno, path: error.namesFile ? request.file : nil)
        }
        return .ok
    }
}

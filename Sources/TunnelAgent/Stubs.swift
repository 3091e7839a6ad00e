import TunnelWire
extension Session {
    func handleProcessRun() throws(WireError) { try skipUnimplemented(ProcessRun<[UInt8]>.self) }
    func handleStat() throws(WireError) { try skipUnimplemented(Stat.self) }
    func handleUpload() throws(WireError) { try skipUnimplemented(Upload<[UInt8]>.self) }
    func handleDownload() throws(WireError) { try skipUnimplemented(Download.self) }
    func handleResolveUser() throws(WireError) { try skipUnimplemented(ResolveUser.self) }
    func handleResolveGroup() throws(WireError) { try skipUnimplemented(ResolveGroup.self) }
    func handleQueryUser() throws(WireError) { try skipUnimplemented(QueryUser.self) }
    func handleQueryGroup() throws(WireError) { try skipUnimplemented(QueryGroup.self) }
    func handleGetenv() throws(WireError) { try skipUnimplemented(Getenv.self) }
    func skipUnimplemented<P: DecodablePacket>(_ type: P.Type) throws(WireError) {
        if try decode(type) != nil { sendOSError(.notImplemented) }
    }
}

import TunnelWire

/// What the client holds of one folder's listing (ListDir, ReadBeneath), whatever the target
/// sends (issue 20). A listing comes in pages and ends with the page marked `last`: an agent
/// that never marks one, or pages out a folder of absurd size, would otherwise grow the
/// client's memory until the system kills it. No caller can act on a listing before it is
/// whole (`ls` sorts it; a tree walk refuses a name given twice before it writes anything),
/// so a listing is held, and capped: beyond the cap the connection is abandoned with an error
/// that says so (docs/security.md, "Target → client").
enum ListingLimits {
    /// Most entries in one listing: far more than a folder holds in practice (GNU ls lists
    /// more, at the price of its memory).
    static let entries = 1 << 20
    /// Most bytes of names and text (type, owner, group, and any digest) in one listing.
    static let textBytes = 64 << 20
    /// Caps for decoding one page. A name is at most 255 bytes on every Linux file system
    /// (NAME_MAX); 1024 leaves room for any other. An agent pages 512 entries at a time.
    /// A longer name is a protocol error (it cannot be shown truncated), a longer owner or
    /// group an invalid field; so one page is at most a few MiB whatever it claims.
    static let page = WireLimits(maxStringBytes: 1024, maxListCount: 4096, maxInMemoryBytes: 1024,
                                 maxListBytes: 4096 * 1024)
}

/// Counts a listing's pages against `ListingLimits` as they arrive.
struct ListingBudget {
    private(set) var entries = 0
    private(set) var textBytes = 0

    /// Adds `page`; the reason the listing is over its cap, if it now is.
    mutating func take(_ page: [DirEntry]) -> String? {
        entries += page.count
        for entry in page {
            textBytes += entry.name.count + entry.type.utf8.count
            // A digest too: no real listing carries one, but a page's caps let each status
            // hold 1 KiB of it, a GiB under the entry cap if it went uncounted.
            if let status = entry.status {
                textBytes += status.owner.utf8.count + status.group.utf8.count + (status.sha512sum?.count ?? 0)
            }
        }
        if entries > ListingLimits.entries { return "more than \(ListingLimits.entries) entries" }
        if textBytes > ListingLimits.textBytes { return "more than \(ListingLimits.textBytes >> 20) MiB of names" }
        return nil
    }
}

extension TunnelConnection {
    /// `body`, which decodes a DirEntries page, with the page caps on the stream's reader.
    func underListingLimits<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let input = transport.input
        let usual = input.limits
        input.limits = ListingLimits.page
        defer { input.limits = usual }
        return try body()
    }

    /// The rest of a listing whose first page has arrived, checked as a listing from a
    /// target that may lie must be (`checkedEntries`). Every page is read first, so the
    /// stream stays in step whatever the verdict; a listing over its cap ends the session
    /// instead, since reading it to its end may never happen.
    func remainingEntries(after first: DirEntries, of path: String) throws(TunnelError) -> [DirEntry] {
        var budget = ListingBudget()
        var page = first
        var entries: [DirEntry] = []
        while true {
            if let excess = budget.take(page.entries) {
                let failure = TunnelError.transport("the listing of '\(path)' holds \(excess), the most tunnel holds "
                                                    + "of one folder: the connection was abandoned")
                broken = failure
                closed = true
                _ = transport.finish(flushing: false)
                throw failure
            }
            // Most listings are one page: that page's array is the listing, not a copy of it.
            if entries.isEmpty { entries = page.entries } else { entries += page.entries }
            if page.last { break }
            page = try underListingLimits { () throws(TunnelError) in try answer(expecting: DirEntries.self) }
        }
        return try checkedEntries(entries)
    }
}

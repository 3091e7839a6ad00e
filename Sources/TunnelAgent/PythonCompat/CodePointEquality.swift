extension String {
    /// Python's `==` on str: the same code points, so the same UTF-8 bytes. Swift's `==` is
    /// canonical equivalence instead ("é" precomposed equals "e" + U+0301), which the
    /// reference never does, and it links Unicode's normalization tables (32 KB) into the
    /// static agent. The agent compares text with this, and never iterates Characters.
    func isSameText(as other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}

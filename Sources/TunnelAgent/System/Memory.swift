import CPosix

/// Whether `byteCount` bytes can be allocated right now (see `tp_can_map`). A failed Swift
/// allocation ends the process, so large allocations driven by the input are asked about
/// first; under RLIMIT_AS the answer can be no.
func allocatorCanProvide(_ byteCount: Int) -> Bool {
    tp_can_map(byteCount) != 0
}

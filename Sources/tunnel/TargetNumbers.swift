import TunnelWire

extension StatResult {
    /// The permission bits (`st_mode & 0o7777`) of a mode the target sent. StatResult's mode
    /// is a u64, so a hostile target may send bits no mode_t holds: converting the whole
    /// value to UInt32 would trap (docs/security.md, "Target → client").
    var permissionBits: UInt32 { UInt32(truncatingIfNeeded: mode & 0o7777) }
}

/// `might_sleep()`, `might_fault()`, `cant_sleep()`, lockdep's RCU checks and
/// filesystem error reports (`btrfs_abort_transaction()`, `ext4_error()`) pass
/// `__LINE__` to a reporting function: the line number is an immediate moved into
/// an argument register right before the call. Adding lines above the function
/// changes that immediate and nothing else, which is not a change of the function.
struct LineNumberArguments {
    /// `mov $imm32, %esi` (second argument) and `mov $imm32, %edx` (third).
    static let movImmToESI: UInt8 = 0xbe
    static let movImmToEDX: UInt8 = 0xba
    /// Reporting functions by the `mov` opcode that loads their `__LINE__` argument.
    static let reporters: [String: UInt8] = [
        "__might_sleep": movImmToESI, "__might_fault": movImmToESI, "__might_resched": movImmToESI,
        "__cant_sleep": movImmToESI, "__cant_migrate": movImmToESI, "lockdep_rcu_suspicious": movImmToESI,
        "warn_slowpath_fmt": movImmToESI,
        "__btrfs_abort_transaction": movImmToEDX, "__btrfs_handle_fs_error": movImmToEDX, "__btrfs_panic": movImmToEDX,
        "__ext4_error": movImmToEDX, "__ext4_error_inode": movImmToEDX, "__ext4_error_file": movImmToEDX,
        "__ext4_std_error": movImmToEDX, "__ext4_warning": movImmToEDX, "__ext4_warning_inode": movImmToEDX,
        "__ext4_grp_locked_error": movImmToEDX,
    ]
    /// How far after the move the reporter's call may come (argument setup in between).
    static let window = 48

    let model: ObjectModel

    /// True when `original` and `patched` (one function's bytes, same length) differ
    /// only in immediates of `mov $line, %esi/%edx` that feed a call to a reporter;
    /// `references` are the patched function's references (offsets relative to it).
    func onlyLinesDiffer(_ original: [UInt8], _ patched: [UInt8], references: [Reference]) -> Bool {
        guard original.count == patched.count, original != patched else { return false }
        var i = 0
        while i < patched.count {
            guard original[i] != patched[i] else { i += 1; continue }
            // The differing byte must lie in the immediate of a `mov $imm32, %esi` both sides have.
            guard let start = (max(0, i - 4)..<i).last(where: { j in
                      (patched[j] == Self.movImmToESI || patched[j] == Self.movImmToEDX) && original[j] == patched[j] && j + 5 <= patched.count
                  }), feedsReporter(at: start + 5, opcode: patched[start], code: patched, references: references) else { return false }
            i = start + 5
        }
        return true
    }

    /// The first call after `offset` (within `window` bytes) goes to a reporter that
    /// takes its line in the register `opcode` loads.
    private func feedsReporter(at offset: Int, opcode: UInt8, code: [UInt8], references: [Reference]) -> Bool {
        guard let call = references.first(where: { ref in
                  ref.offset >= UInt64(offset) && ref.offset >= 1 && ref.type.isPCRelative && code[Int(ref.offset) - 1] == DirectBranch.call
              }), call.offset < UInt64(offset + Self.window), case .symbol(let t) = call.target else { return false }
        return Self.reporters[model.symbols[t].name] == opcode
    }
}

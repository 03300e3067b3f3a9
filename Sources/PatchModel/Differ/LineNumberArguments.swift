/// `might_sleep()`, `might_fault()`, `cant_sleep()`, lockdep's RCU checks and
/// filesystem error reports (`btrfs_abort_transaction()`, `ext4_error()`) pass
/// `__LINE__` to a reporting function: the line number is an immediate moved into
/// an argument register right before the call. Adding lines above the function
/// changes that immediate and nothing else, which is not a change of the function.
/// Besides the known reporters, any call that takes `__FILE__, __LINE__` as two
/// consecutive arguments has one (`printk("RTNL: assertion failed at %s (%d)\n",
/// __FILE__, __LINE__)`, older kernels' `___might_sleep(__FILE__, __LINE__, 0)`): the
/// immediate follows an argument loaded, in the same call's setup, with the address of
/// this translation unit's file name. Any other immediate is data and stays compared.
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
                      Self.lineRegisters.contains(patched[j]) && original[j] == patched[j] && j + 5 <= patched.count
                  }), feedsReporter(at: start + 5, opcode: patched[start], code: patched, references: references)
                      || followsFileArgument(at: start, opcode: patched[start], code: patched, references: references)
            else { return false }
            i = start + 5
        }
        return true
    }

    /// `mov $imm32, %ecx` (fourth argument).
    static let movImmToECX: UInt8 = 0xb9
    /// The `mov $imm32, %r32` opcodes a line may be loaded with.
    static let lineRegisters: Set<UInt8> = [movImmToESI, movImmToEDX, movImmToECX]
    /// `mov $imm32, %r32` is 0xb8 + the register's number.
    static let movImm32Base: UInt8 = 0xb8
    /// The first four integer argument registers by number (SysV: rdi, rsi, rdx, rcx).
    static let argumentRegisters: [UInt8] = [7, 6, 2, 1]

    /// The `mov $line` at `offset` loads an argument whose predecessor is loaded with this
    /// file's name (a string equal to the STT_FILE name or ending in `/` and it) between
    /// the previous call and the call the arguments are for.
    private func followsFileArgument(at offset: Int, opcode: UInt8, code: [UInt8], references: [Reference]) -> Bool {
        guard let line = Self.argumentRegisters.firstIndex(of: opcode &- Self.movImm32Base), line > 0 else { return false }
        let fileRegister = Self.argumentRegisters[line - 1]
        let calls = references.filter { Self.isCall($0, code: code) }
        guard let call = calls.first(where: { $0.offset > UInt64(offset) }), call.offset < UInt64(offset + Self.window) else { return false }
        let setupStart = calls.last(where: { $0.offset < UInt64(offset) }).map { $0.offset + 4 } ?? 0
        return references.contains { ref in
            ref.offset >= setupStart && ref.offset < call.offset
                && Self.loadedRegister(by: ref, code: code) == fileRegister && isThisFile(ref)
        }
    }

    /// The register the instruction holding `ref` loads with the address: `mov $sym, %r64`
    /// (48 c7 c0+r), `lea sym(%rip), %r64` (48 8d 05+8r) or `mov $sym, %r32` (b8+r).
    static func loadedRegister(by ref: Reference, code: [UInt8]) -> UInt8? {
        let o = Int(ref.offset)
        if o >= 3, code[o - 3] == 0x48, code[o - 2] == 0xc7, code[o - 1] & 0xf8 == 0xc0 { return code[o - 1] & 7 }
        if o >= 3, code[o - 3] == 0x48, code[o - 2] == 0x8d, code[o - 1] & 0xc7 == 0x05, ref.type.isPCRelative { return (code[o - 1] >> 3) & 7 }
        if o >= 1, code[o - 1] & 0xf8 == movImm32Base, !ref.type.isPCRelative { return code[o - 1] & 7 }
        return nil
    }

    /// Whether `ref` points at a string that is this translation unit's `__FILE__`.
    private func isThisFile(_ ref: Reference) -> Bool {
        let file = Array(model.sourceFile.utf8)
        guard !file.isEmpty else { return false }
        let bias: Int64 = ref.type.isPCRelative ? 4 : 0
        let text: [UInt8]?
        switch ref.target {
        case .section(let i):
            text = model.sections[i].flags.contains(.strings) ? model.string(in: i, at: ref.addend &+ bias) : nil
        case .symbol(let i):
            let s = model.symbols[i]
            let section = Int(s.sectionIndex)
            text = s.isInSection && section < model.sections.count && model.sections[section].flags.contains(.strings)
                ? model.string(in: section, at: Int64(s.value) &+ ref.addend &+ bias) : nil
        }
        guard let text, text.count >= file.count else { return false }
        return text == file || (text.suffix(file.count + 1).elementsEqual([UInt8(ascii: "/")] + file))
    }

    /// Whether `ref` is the displacement of a call, or of a `jmp` when gcc makes the report
    /// a tail call (a `.cold` part ending in the printk).
    static func isCall(_ ref: Reference, code: [UInt8]) -> Bool {
        ref.offset >= 1 && ref.type.isPCRelative && Int(ref.offset) <= code.count
            && (code[Int(ref.offset) - 1] == DirectBranch.call || code[Int(ref.offset) - 1] == DirectBranch.jump)
    }

    /// The first call after `offset` (within `window` bytes) goes to a reporter that
    /// takes its line in the register `opcode` loads.
    private func feedsReporter(at offset: Int, opcode: UInt8, code: [UInt8], references: [Reference]) -> Bool {
        guard let call = references.first(where: { ref in ref.offset >= UInt64(offset) && Self.isCall(ref, code: code) }), call.offset < UInt64(offset + Self.window), case .symbol(let t) = call.target else { return false }
        return Self.reporters[model.symbols[t].name] == opcode
    }
}

// HypercallInstruction.swift: whether a port-I/O exit on a hypercall port came from the one instruction the
// ABI makes a hypercall: a single `out dx, eax`. KVM reports every element of a string `outs` (with or without
// `rep`) as its own single 4-byte exit, so the exit alone cannot tell them apart; the guest's code can.
import KVM

/// Checks the guest code around a hypercall exit.
enum HypercallInstruction {
  /// `out dx, eax` (the port is above 0xff, so the immediate form cannot reach it).
  static let outDXEAX: UInt8 = 0xEF

  /// The linear address of the instruction pointer `rip` (CS base added outside 64-bit mode).
  static func linearAddress(of rip: UInt64, _ specialRegisters: SpecialRegisters) -> UInt64 {
    let longModeActive = specialRegisters.efer & (1 << 10) != 0
    if longModeActive && specialRegisters.cs.l { return rip }
    return (specialRegisters.cs.base &+ rip) & 0xFFFF_FFFF
  }

  /// True when the exit that left the vCPU at `rip` came from a completed `out dx, eax`: the byte before RIP is
  /// that opcode (after a string `outs` it is 6F), and the instruction at RIP is not string port I/O (an `outs`
  /// whose repetitions are not done leaves RIP on itself). An `out` directly followed by `ins`/`outs` is
  /// therefore refused too, which the ABI states.
  /// (Runs on every hypercall: it reads byte by byte, one page walk each, and allocates nothing.)
  static func isSingleOut(rip: UInt64, code: GuestLinearMemory) -> Bool {
    let linear = linearAddress(of: rip, code.specialRegisters)
    guard code.byte(at: linear &- 1) == outDXEAX else { return false }
    for offset in 0..<UInt64(GuestInstruction.maximumLength) {
      // A byte that does not translate was never fetched: the instruction at RIP is not one being repeated.
      guard let byte = code.byte(at: linear &+ offset) else { return true }
      if !GuestInstruction.isPrefix(byte) { return !GuestInstruction.isStringPortIO(opcode: byte) }
    }
    return true
  }
}

// GuestInstruction.swift: the little the host needs to know about a guest instruction's bytes: its opcode
// after any prefixes, whether it is string port I/O, whether it transfers control.

/// The opcode of an x86-64 instruction, found by skipping its legacy and REX prefixes.
struct GuestInstruction {
  /// The longest x86 instruction, in bytes.
  static let maximumLength = 15

  /// The bytes from the first opcode byte on (at least one).
  let opcode: ArraySlice<UInt8>

  /// Decodes the instruction at the start of `bytes`; nil when only prefixes were found.
  init?(_ bytes: [UInt8]) {
    var index = 0
    while index < bytes.count, Self.isPrefix(bytes[index]) { index += 1 }
    guard index < bytes.count else { return nil }
    opcode = bytes[index...]
  }

  /// Legacy prefixes (operand and address size, lock, repeat, segment overrides) and REX.
  static func isPrefix(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x40...0x4F: true
    default: false
    }
  }

  private func byte(_ offset: Int) -> UInt8? {
    let index = opcode.startIndex + offset
    return index < opcode.endIndex ? opcode[index] : nil
  }

  /// `ins` or `outs` (6C-6F), with or without a repeat prefix.
  var isStringPortIO: Bool { Self.isStringPortIO(opcode: opcode[opcode.startIndex]) }

  /// True for the first opcode byte of `ins` or `outs` (6C-6F).
  static func isStringPortIO(opcode: UInt8) -> Bool { (0x6C...0x6F).contains(opcode) }

  /// An instruction that may leave every register as it found it by transferring control to itself: jumps
  /// (relative, conditional, indirect, far), `loop`/`jrcxz`, calls and returns, `int`, `iret`, `syscall`,
  /// `sysret`, `sysenter`, `sysexit`. Any other instruction that completes changes at least RIP.
  var mayTransferControlToItself: Bool {
    let first = opcode[opcode.startIndex]
    switch first {
    case 0x70...0x7F, 0xE0...0xE3, 0xE8, 0xE9, 0xEA, 0xEB, 0x9A, 0xC2, 0xC3, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF:
      return true
    case 0xFF:
      guard let modrm = byte(1) else { return true }
      return (2...5).contains((modrm >> 3) & 7)  // call, call far, jmp, jmp far
    case 0x0F:
      guard let second = byte(1) else { return true }
      return (0x80...0x8F).contains(second) || [0x05, 0x07, 0x34, 0x35].contains(second)
    default: return false
    }
  }
}

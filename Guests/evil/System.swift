// System.swift: the evil guest's attacks through system instructions and string port I/O (cases the host must
// stop with a documented status, never leave spinning inside KVM) and on the host-owned virtual registers.
import Ilwaco

extension Evil {
  /// The system-instruction cases, in the order of `cases`.
  static let systemCases: [StaticString] = [
    "io-rep-outs", "io-outs", "io-rep-ins", "io-out-then-rep-outs", "vmcall", "vmmcall", "lgdt-unbacked",
    "lidt-unbacked", "segment-unbacked", "ltr-unbacked", "lldt-unbacked", "idt-unbacked", "vregs-write",
    "loop-jump-self", "loop-segment-load",
  ]

  /// Linear address of a GDT or IDT base whose pages lie beyond guest memory (after `mapBeyondMemory`).
  static let unbackedTableLimit: UInt16 = 0xffff

  /// Runs system case `name`; nil when `name` is not one. Cases the host must stop return 1 if they continue.
  static func systemCase(_ name: String) -> Int32? {
    switch name {
    // ---- String port I/O on a hypercall port: stopped, 164 (each element would otherwise be a nop) ----
    case "io-rep-outs":
      let words = nopRequests(3)
      CPU.repeatOut32(port: hypercallPort(DENALI_HC_NOP), words, count: 3)
    case "io-outs": CPU.stringOut32(port: hypercallPort(DENALI_HC_NOP), nopRequests(1))
    case "io-rep-ins":
      let buffer = scratch(64)
      CPU.repeatIn32(port: hypercallPort(DENALI_HC_NOP), buffer, count: 3)
    case "io-out-then-rep-outs":  // a real nop directly followed by rep outsl: the host cannot tell them apart
      let words = nopRequests(3)
      CPU.out32ThenRepeatOut32(
        port: hypercallPort(DENALI_HC_NOP), words.load(as: UInt32.self), words + 4, count: 2)

    // ---- Not Denali hypercalls: stopped (KVM's own hypercall instructions) ----
    case "vmcall": CPU.vmcall()
    case "vmmcall": CPU.vmmcall()

    // ---- Descriptor loads from unbacked guest-physical memory (page tables edited to reach past memory) ----
    case "lgdt-unbacked": CPU.loadGDT(operandAt: mapBeyondMemory())
    case "lidt-unbacked": CPU.loadIDT(operandAt: mapBeyondMemory())
    case "segment-unbacked":  // the GDT lies beyond memory; loading DS reads its descriptor there
      CPU.loadGDT(base: mapBeyondMemory(), limit: unbackedTableLimit)
      CPU.loadDS(0x18)
    case "ltr-unbacked":
      CPU.loadGDT(base: mapBeyondMemory(), limit: unbackedTableLimit)
      CPU.loadTaskRegister(0x20)
    case "lldt-unbacked":
      CPU.loadGDT(base: mapBeyondMemory(), limit: unbackedTableLimit)
      CPU.loadLDT(0x20)
    case "idt-unbacked":  // the IDT lies beyond memory; #UD must read its gate there
      CPU.loadIDT(base: mapBeyondMemory(), limit: 0xfff)
      CPU.undefinedInstruction()

    // ---- Loops whose registers repeat but which make progress: never "stuck", stopped only by the timeout ----
    case "loop-jump-self": CPU.jumpToSelf()
    case "loop-segment-load": CPU.loadDSForever(0x18)

    // ---- The host-owned fields of the virtual registers ----
    case "vregs-write":  // overwrite magic, vm_id and memory_size; after a hypercall the host's values are back
      let id = VirtualRegisters.vmID
      let size = VirtualRegisters.memorySize
      CPU.store(0x1111_1111_0000_0000, at: DENALI_GPA_VREGS)  // magic and abi_version
      CPU.store(0x2222, at: DENALI_GPA_VREGS + 40)  // vm_id
      CPU.store(0x3333, at: DENALI_GPA_VREGS + 24)  // memory_size
      Hypercall.nop()
      var kept: Int64 = 0  // one bit per field the guest's write survived in
      if !VirtualRegisters.isPresent { kept |= 1 }
      if VirtualRegisters.vmID != id { kept |= 2 }
      if VirtualRegisters.memorySize != size { kept |= 4 }
      return report(name, kept)
    default: return nil
    }
    Console.print("evil: ")
    Console.print(name)
    Console.print(": not stopped\n")
    return 1
  }

  /// `count` 32-bit words, each the address of its own valid nop struct.
  static func nopRequests(_ count: Int) -> UnsafeMutableRawPointer {
    let words = scratch(4 * count)
    for index in 0..<count {
      let request = scratch(16)
      request.storeBytes(of: 0, as: Int64.self)
      words.storeBytes(
        of: UInt32(truncatingIfNeeded: UInt(bitPattern: request)), toByteOffset: 4 * index, as: UInt32.self)
    }
    return words
  }
}

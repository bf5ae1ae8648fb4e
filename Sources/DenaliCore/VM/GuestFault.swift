// GuestFault.swift: why a guest was stopped against its will, with its exit status and one-line reason.

/// A guest fault: the VM is stopped, the daemon and other VMs are unaffected.
public enum GuestFault: Equatable, Sendable, CustomStringConvertible {
  /// A CPU exception reached the host's trap stub.
  case exception(vector: UInt8, rip: UInt64, errorCode: UInt64?, faultAddress: UInt64?)
  /// The guest triple-faulted (an exception while delivering an exception).
  case tripleFault(rip: UInt64)
  /// The guest executed HLT; with no interrupts it could never wake.
  case halted(rip: UInt64)
  /// KVM's instruction emulator could not execute the guest's instruction.
  case emulationFailure(suberror: UInt32, rip: UInt64)
  /// The guest touched guest-physical memory outside its memory.
  case memoryOutOfBounds(address: UInt64, isWrite: Bool, rip: UInt64)
  /// Port I/O that is not a hypercall.
  case invalidPortIO(port: UInt16, isInput: Bool, size: UInt8, count: UInt32, rip: UInt64)
  /// A hypercall whose struct lies outside guest memory or is misaligned.
  case invalidHypercall(number: UInt16, structAddress: UInt64, rip: UInt64)
  /// KVM refused to enter the guest.
  case entryFailure(hardwareReason: UInt64)
  /// The instruction at `rip` never completes: KVM retries it forever without an exit (for example a segment,
  /// task or LDT descriptor read from guest-physical memory no memory backs).
  case stuck(rip: UInt64)
  /// Any other exit the Denali machine does not define.
  case unexpectedExit(String, rip: UInt64)

  /// Exit status `denalid run` reports: 128 + vector for CPU exceptions, 160 and up for the rest (167 was added
  /// after 166, so the catch-all is not the highest).
  public var exitStatus: Int32 {
    switch self {
    case .exception(let vector, _, _, _): 128 + Int32(vector & 31)
    case .tripleFault: 160
    case .halted: 161
    case .emulationFailure: 162
    case .memoryOutOfBounds: 163
    case .invalidPortIO: 164
    case .invalidHypercall: 165
    case .entryFailure, .unexpectedExit: 166
    case .stuck: 167
    }
  }

  /// One line naming the fault and the guest's instruction pointer.
  public var description: String {
    switch self {
    case .exception(let vector, let rip, let errorCode, let address):
      var text = "\(Self.exceptionName(vector)) at rip \(hex(rip))"
      if let address { text += ", address \(hex(address))" }
      if let errorCode { text += ", error code \(hex(errorCode))" }
      return text
    case .tripleFault(let rip): return "triple fault at rip \(hex(rip))"
    case .halted(let rip): return "halted (hlt with no interrupts to wake it) at rip \(hex(rip))"
    case .emulationFailure(let suberror, let rip):
      return "instruction the hypervisor cannot emulate (KVM internal error \(suberror)) at rip \(hex(rip))"
    case .memoryOutOfBounds(let address, let isWrite, let rip):
      return "\(isWrite ? "write" : "read") outside guest memory at address \(hex(address)), rip \(hex(rip))"
    case .invalidPortIO(let port, let isInput, let size, let count, let rip):
      return
        "port I/O that is not a hypercall (\(isInput ? "in" : "out") port \(hex(UInt64(port))), \(size) bytes x \(count)) at rip \(hex(rip))"
    case .invalidHypercall(let number, let address, let rip):
      return
        "hypercall \(number) with its struct outside guest memory or misaligned (\(hex(address))) at rip \(hex(rip))"
    case .entryFailure(let reason): return "KVM could not enter the guest (hardware reason \(hex(reason)))"
    case .unexpectedExit(let what, let rip): return "unexpected exit (\(what)) at rip \(hex(rip))"
    case .stuck(let rip):
      return
        "instruction the hypervisor retries forever without completing it (for example a descriptor read from outside guest memory) at rip \(hex(rip))"
    }
  }

  /// Vectors for which the CPU pushes an error code below the return address.
  static func hasErrorCode(_ vector: UInt8) -> Bool {
    [8, 10, 11, 12, 13, 14, 17, 21, 29, 30].contains(vector)
  }

  /// The architectural name of exception `vector`.
  static func exceptionName(_ vector: UInt8) -> String {
    switch vector {
    case 0: "divide error (#DE)"
    case 1: "debug exception (#DB)"
    case 2: "non-maskable interrupt (NMI)"
    case 3: "breakpoint (#BP)"
    case 4: "overflow (#OF)"
    case 5: "bound range exceeded (#BR)"
    case 6: "invalid opcode (#UD)"
    case 7: "device not available (#NM)"
    case 8: "double fault (#DF)"
    case 10: "invalid TSS (#TS)"
    case 11: "segment not present (#NP)"
    case 12: "stack-segment fault (#SS)"
    case 13: "general protection fault (#GP)"
    case 14: "page fault (#PF)"
    case 16: "x87 floating-point exception (#MF)"
    case 17: "alignment check (#AC)"
    case 18: "machine check (#MC)"
    case 19: "SIMD floating-point exception (#XM)"
    case 20: "virtualization exception (#VE)"
    case 21: "control protection exception (#CP)"
    default: "reserved exception \(vector)"
    }
  }
}

// ProgressWatch.swift: tells a guest instruction that KVM retries forever (it never completes and never exits,
// for example a descriptor read from guest-physical memory no slot backs, which KVM's emulator neither
// finishes nor reports) from a guest that merely loops, so that the first can be stopped.
import KVM

/// Samples the registers whenever a run ends without an exit of its own (preemption, the run watchdog). Two
/// samples in a row with identical registers and no exit between them start a probe: KVM single-steps the
/// guest. If an instruction completes and changes a register, or any exit comes, the guest makes progress.
/// The guest is stuck when, with the probe on, the registers stay the same while the vCPU spends
/// `stuckCPUNanoseconds` of its thread's CPU time inside KVM_RUN, or when the step KVM reports changed nothing
/// and the instruction is not one that can jump to itself.
struct ProgressWatch {
  /// What a sample or a debug exit shows.
  enum Verdict: Equatable {
    /// The guest makes progress, or may.
    case running
    /// KVM retries the instruction at this RIP forever.
    case stuck(rip: UInt64)
  }

  /// CPU time the probe must see spent in KVM_RUN with no instruction completed (an emulated instruction takes
  /// about a microsecond: this is four orders of magnitude more).
  static let stuckCPUNanoseconds: UInt64 = 20_000_000

  /// The registers at the last sample, when no exit came since.
  private var lastSample: Registers?
  /// The registers when the probe started, and the CPU time spent in KVM_RUN since; nil without a probe.
  private var probe: (registers: Registers, cpuNanoseconds: UInt64)?
  /// True while KVM single-steps the vCPU (as far as this watch knows: turning it off may have failed).
  private var singleStepping = false

  /// True while a probe runs (the caller then measures each KVM_RUN's thread CPU time).
  var isProbing: Bool { probe != nil }

  /// Adds the thread CPU time one KVM_RUN took during the probe.
  mutating func addProbeTime(_ nanoseconds: UInt64) {
    probe?.cpuNanoseconds &+= nanoseconds
  }

  /// A run ended without an exit of its own (preemption or the watchdog) with the vCPU at `registers`.
  mutating func sample(_ registers: Registers, vcpu: VCPU) -> Verdict {
    if let probe {
      if registers != probe.registers {
        stopProbe(vcpu)
        lastSample = registers
        return .running
      }
      return probe.cpuNanoseconds >= Self.stuckCPUNanoseconds ? .stuck(rip: registers.rip) : .running
    }
    if lastSample == registers, (try? vcpu.setSingleStep(true)) != nil {
      // KVM refuses (EBUSY) while an exception is pending; the next sample tries again.
      singleStepping = true
      probe = (registers, 0)
    }
    lastSample = registers
    return .running
  }

  /// A debug exit with the vCPU at `registers`; `code` reads the guest's code.
  mutating func debugExit(_ registers: Registers, vcpu: VCPU, code: GuestLinearMemory) -> Verdict {
    let started = probe?.registers
    stopProbe(vcpu)
    lastSample = nil
    guard let started, registers == started else { return .running }
    // The step changed nothing: a jump to itself, or an instruction KVM gave up on and will retry.
    let linear = HypercallInstruction.linearAddress(of: registers.rip, code.specialRegisters)
    guard let instruction = GuestInstruction(code.bytes(at: linear, upTo: GuestInstruction.maximumLength)),
      !instruction.mayTransferControlToItself
    else { return .running }
    return .stuck(rip: registers.rip)
  }

  /// Any other exit: the guest made progress.
  mutating func exited(vcpu: VCPU) {
    lastSample = nil
    if singleStepping || probe != nil { stopProbe(vcpu) }
  }

  /// True when KVM may still single-step the vCPU without a probe (turning it off failed): a debug exit then
  /// only means that.
  var mayStepWithoutProbe: Bool { singleStepping && probe == nil }

  private mutating func stopProbe(_ vcpu: VCPU) {
    probe = nil
    if (try? vcpu.setSingleStep(false)) != nil { singleStepping = false }
  }
}

// cpu-state [MS]: writes every MSR on its list that the CPU lets it write, and the debug registers DR0-3, DR6
// and DR7, to distinctive values, and turns on KVM's paravirtual clock; prints `cpu-state: set N msrs`; idles
// MS milliseconds (decimal, default 0), during which the host may swap the VM out and in, or restart; then
// reads everything back, and checks that the TSC and the KVM clock went on at least 3/4 as far as the
// guest's monotonic clock (they must not stand still or go back across a swap). Prints each value
// that changed as `cpu-state: MISMATCH ...` and finally `cpu-state: N msrs, 6 debug registers, M mismatches`,
// and exits with M (at most 255). MSRs the CPU refuses (#GP, survived with a temporary handler) are skipped
// and listed as `refused`. Guest instructions are emulated on our hosts, so the list is kept short.
import Ilwaco

/// An MSR the guest tries to change, and the value it writes.
struct Candidate {
  let index: UInt32
  let value: UInt64
}

@main
struct CPUState: Guest {
  /// Every MSR a guest could plausibly change, with a valid value that differs from KVM's reset value.
  static let candidates: [Candidate] = [
    Candidate(index: 0x174, value: 0x10),  // SYSENTER_CS
    Candidate(index: 0x175, value: 0xffff_8000_1234_5000),  // SYSENTER_ESP
    Candidate(index: 0x176, value: 0xffff_8000_1234_6000),  // SYSENTER_EIP
    Candidate(index: 0xc000_0081, value: 0x0023_0010_0000_0000),  // STAR
    Candidate(index: 0xc000_0082, value: 0xffff_8000_0000_1000),  // LSTAR
    Candidate(index: 0xc000_0083, value: 0xffff_8000_0000_2000),  // CSTAR
    Candidate(index: 0xc000_0084, value: 0x4700),  // SFMASK
    Candidate(index: 0xc000_0102, value: 0xffff_8000_dead_b000),  // KERNEL_GS_BASE
    Candidate(index: 0x277, value: 0x0001_0504_0007_0406),  // PAT
    Candidate(index: 0xc000_0103, value: 0x1234),  // TSC_AUX
    Candidate(index: 0x3b, value: 0x1000),  // TSC_ADJUST
    Candidate(index: 0x1a0, value: 0),  // MISC_ENABLE (fast strings off)
    Candidate(index: 0x17a, value: 0x4),  // MCG_STATUS
    Candidate(index: 0x1fc, value: 0x4_0000),  // POWER_CTL
    Candidate(index: 0x1d9, value: 0x2),  // DEBUGCTL (BTF)
    Candidate(index: 0x140, value: 0x1),  // MISC_FEATURES_ENABLES (CPUID faulting)
    Candidate(index: 0xc001_0015, value: 0x4_0000),  // HWCR (McStatusWrEn)
    Candidate(index: 0x4b56_4d05, value: 0),  // KVM_POLL_CONTROL
    Candidate(index: 0x4b56_4d06, value: 0x80),  // KVM_ASYNC_PF_INT
    Candidate(index: 0x2ff, value: 0xc06),  // MTRR default type: enabled, fixed enabled, write-back
    Candidate(index: 0x200, value: 0x6),  // MTRR variable base 0: write-back at 0
    Candidate(index: 0x201, value: 0xf_ffc0_0800),  // MTRR variable mask 0: 4 MiB, valid
    Candidate(index: 0x20e, value: 0x4000_0006),  // MTRR variable base 7
    Candidate(index: 0x250, value: 0x0606_0606_0606_0606),  // MTRR fixed 64K
    Candidate(index: 0x258, value: 0x0505_0505_0505_0505),  // MTRR fixed 16K
    Candidate(index: 0x26f, value: 0x0404_0404_0404_0404),  // MTRR fixed 4K F8000
    Candidate(index: 0x48, value: 0x1),  // SPEC_CTRL (IBRS)
    Candidate(index: 0x1b, value: 0xfee0_0900),  // APIC_BASE (enabled, BSP)
    Candidate(index: 0x6e0, value: 0x1234_5678),  // TSC_DEADLINE
    Candidate(index: 0x400, value: 0),  // MC0_CTL
  ]

  /// Debug registers written, and the values: DR0-3 are addresses nothing touches, DR7 arms them
  /// (4-byte write breakpoints, L0-L3, LE, GE), DR6 sets B0-B3.
  static let debugRegisters: [(index: UInt32, value: UInt64)] = [
    (0, 0x7fff_0000_1000), (1, 0x7fff_0000_2008), (2, 0x7fff_0000_3010), (3, 0x7fff_0000_4018),
    (6, 0xf), (7, 0xdddd_0755),
  ]

  static func run(_ arguments: Arguments) -> Int32 {
    guard arguments.count <= 1, let milliseconds = arguments.unsignedInteger(at: 0, default: 0),
      milliseconds <= 1_000_000
    else {
      Console.print("usage: cpu-state [MS] (MS decimal 0-1000000, default 0)\n")
      return 255
    }
    // Write, then read back what the CPU kept (it may mask bits): that is the state to compare against.
    var kept: [Candidate] = []
    Console.print("cpu-state: refused")
    for candidate in candidates {
      if CPU.tryWriteMSR(candidate.index, candidate.value), let value = CPU.tryReadMSR(candidate.index) {
        kept.append(Candidate(index: candidate.index, value: value))
      } else {
        Console.print(" ")
        Console.printHex(candidate.index)
      }
    }
    Console.print("\n")
    var debugValues: [UInt64] = []
    for register in debugRegisters {
      CPU.setDebugRegister(register.index, register.value)
      debugValues.append(CPU.debugRegister(register.index))
    }
    // KVM's paravirtual clock, at a page of our own: KVM writes the time there (version, TSC stamp, system time).
    let kvmClock = kvmClockPage()
    _ = yield()
    let clockBefore = kvmClock.map(kvmClockNow)
    let tscBefore = CPU.timeStampCounter()
    let monotonicBefore = VirtualRegisters.monotonicNanoseconds
    Console.print("cpu-state: set ")
    Console.print(kept.count)
    Console.print(" msrs\n")
    if milliseconds > 0 { _ = idle(timeoutNanoseconds: milliseconds &* 1_000_000) }
    _ = yield()
    var mismatches = 0
    // The clocks go on together: the guest's monotonic clock, the TSC (at its rate) and the KVM clock.
    let elapsed = VirtualRegisters.monotonicNanoseconds &- monotonicBefore
    let ticks = CPU.timeStampCounter() &- tscBefore
    let hertz = VirtualRegisters.tscFrequencyHertz
    if hertz > 0, ticks / (hertz / 1000 + 1) < elapsed / 1_000_000 * 3 / 4 {
      mismatches += 1
      report("tsc", 0x10, expected: elapsed / 1_000_000, got: ticks / (hertz / 1000 + 1))  // in ms
    }
    if let kvmClock, let clockBefore {
      let clockAfter = kvmClockNow(kvmClock)
      if clockAfter < clockBefore &+ elapsed / 4 * 3 {
        mismatches += 1
        report("kvmclock", 0x4b56_4d01, expected: clockBefore &+ elapsed, got: clockAfter)
      }
    }
    for candidate in kept {
      let now = CPU.tryReadMSR(candidate.index)
      if now != candidate.value {
        mismatches += 1
        report("msr", candidate.index, expected: candidate.value, got: now ?? 0)
      }
    }
    for (position, register) in debugRegisters.enumerated() {
      let now = CPU.debugRegister(register.index)
      if now != debugValues[position] {
        mismatches += 1
        report("dr", register.index, expected: debugValues[position], got: now)
      }
    }
    Console.print("cpu-state: ")
    Console.print(kept.count)
    Console.print(" msrs, ")
    Console.print(debugRegisters.count)
    Console.print(" debug registers, ")
    Console.print(mismatches)
    Console.print(" mismatches\n")
    return Int32(min(mismatches, 255))
  }

  /// Turns on KVM's paravirtual clock (MSR_KVM_SYSTEM_TIME_NEW) at a fresh 64-byte block; returns its address,
  /// or nil when the MSR is refused.
  static func kvmClockPage() -> UInt64? {
    var block: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&block, 64, 64) == 0, let block else { return nil }
    block.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
    let address = UInt64(UInt(bitPattern: block))
    return CPU.tryWriteMSR(0x4b56_4d01, address | 1) ? address : nil
  }

  /// The KVM clock's time in nanoseconds from its page at `page` (`struct pvclock_vcpu_time_info`): the system
  /// time KVM stamped, plus the TSC ticks since its stamp scaled by its multiplier and shift.
  static func kvmClockNow(_ page: UInt64) -> UInt64 {
    let stamp = CPU.load(at: page + 8)
    let systemTime = CPU.load(at: page + 16)
    let scale = CPU.load(at: page + 24)
    let multiplier = scale & 0xffff_ffff
    let shift = Int8(truncatingIfNeeded: scale >> 32)
    var ticks = CPU.timeStampCounter() &- stamp
    ticks = shift >= 0 ? ticks << UInt64(shift) : ticks >> UInt64(-Int(shift))
    let product = ticks.multipliedFullWidth(by: multiplier)
    return systemTime &+ (product.high << 32 | product.low >> 32)
  }

  /// Prints `cpu-state: MISMATCH KIND INDEX expected E got G`.
  static func report(_ kind: StaticString, _ index: UInt32, expected: UInt64, got: UInt64) {
    Console.print("cpu-state: MISMATCH ")
    Console.print(kind)
    Console.print(" ")
    Console.printHex(index)
    Console.print(" expected ")
    Console.printHex(expected)
    Console.print(" got ")
    Console.printHex(got)
    Console.print("\n")
  }
}

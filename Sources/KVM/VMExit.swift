// VMExit.swift: why KVM_RUN returned, decoded once from kvm_run into a small enum.

/// Direction of a port I/O exit.
public enum IODirection: Equatable, Sendable {
  /// The guest executed IN: it expects data.
  case input
  /// The guest executed OUT: it supplied data.
  case output
}

/// A port I/O exit.
public struct IOExit: Equatable, Sendable {
  /// The I/O port.
  public let port: UInt16
  /// Bytes per access: 1, 2 or 4.
  public let size: UInt8
  /// IN or OUT.
  public let direction: IODirection
  /// Number of accesses (more than 1 for string instructions).
  public let count: UInt32

  /// Describes a port I/O exit. The data of an OUT is not copied here: `VCPU.outputValue()` reads it from KVM's
  /// data page on request, so a caller that takes the value from the registers never maps that page.
  public init(port: UInt16, size: UInt8, direction: IODirection, count: UInt32) {
    self.port = port
    self.size = size
    self.direction = direction
    self.count = count
  }
}

/// A memory-mapped I/O exit: an access to guest-physical memory no slot backs.
public struct MMIOExit: Equatable, Sendable {
  /// The guest-physical address accessed.
  public let address: UInt64
  /// Access width in bytes.
  public let length: UInt32
  /// True for a write.
  public let isWrite: Bool

  /// Describes an MMIO exit.
  public init(address: UInt64, length: UInt32, isWrite: Bool) {
    self.address = address
    self.length = length
    self.isWrite = isWrite
  }
}

/// The reason a `VCPU.run()` call returned.
public enum VMExit: Equatable, Sendable {
  /// Port I/O.
  case io(IOExit)
  /// Access to unbacked guest-physical memory.
  case mmio(MMIOExit)
  /// The guest executed HLT.
  case halt
  /// The guest triple-faulted (or otherwise requested a shutdown).
  case shutdown
  /// VM entry failed with this hardware reason.
  case failEntry(hardwareReason: UInt64)
  /// KVM could not handle something (for example an instruction its emulator lacks).
  case internalError(suberror: UInt32)
  /// A system event such as reset or crash.
  case systemEvent(type: UInt32)
  /// `KVM_RUN` was interrupted by a signal or `requestExit()` before or while running.
  case interrupted
  /// Only the run watchdog ended the run: it had lasted a whole watchdog period without an exit.
  case longRun
  /// A debug exit: with single-stepping on, a guest instruction completed.
  case debug
  /// Any other exit reason.
  case other(reason: UInt32)
}

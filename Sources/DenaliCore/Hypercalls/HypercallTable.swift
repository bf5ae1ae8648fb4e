// HypercallTable.swift: dispatches a hypercall port write to its handler after checking the struct pointer.
import DenaliABI
import KVM

/// What the VM does once a hypercall has been handled.
public enum HypercallDisposition: Equatable, Sendable {
  /// Continue running the guest.
  case resume
  /// Stop the VM with this exit status.
  case terminate(status: Int32)
  /// Give up the CPU until this many nanoseconds pass or an interrupt is pending (0 = yield).
  case idle(timeoutNanoseconds: UInt64)
}

/// One entry of the hypercall table.
struct HypercallHandler {
  /// Size of the hypercall's struct; the table checks `[address, address + size)` before calling `handle`.
  let structSize: UInt64
  /// Handles the call; the struct address is already checked. A thrown error faults the VM.
  let handle: (GuestMemory, UInt64) throws -> HypercallDisposition
}

/// The hypercall dispatch table of one VM, indexed by hypercall number.
struct HypercallTable {
  private var handlers: [HypercallHandler?]

  /// A table with the machine's own hypercalls (nop, terminate, idle); devices register the rest.
  init() {
    handlers = Array(repeating: nil, count: Int(DENALI_HYPERCALL_MAX))
    register(DENALI_HC_NOP, structSize: UInt64(MemoryLayout<denali_hc_nop>.size)) { memory, address in
      try memory.write(Int64(0), at: address)
      return .resume
    }
    register(DENALI_HC_IDLE, structSize: UInt64(MemoryLayout<denali_hc_idle>.size)) { memory, address in
      .idle(timeoutNanoseconds: try memory.load(denali_hc_idle.self, at: address).timeout_ns)
    }
    register(DENALI_HC_TERMINATE, structSize: UInt64(MemoryLayout<denali_hc_terminate>.size)) { memory, address in
      let call = try memory.load(denali_hc_terminate.self, at: address)
      return .terminate(status: Int32(truncatingIfNeeded: call.status & 0xFF))
    }
  }

  /// Where the entry of hypercall `number` lives, as a number for cache prefetch hints only.
  func hintAddress(of number: UInt32) -> UInt {
    guard Int(number) < handlers.count else { return 0 }
    return handlers.withUnsafeBufferPointer {
      UInt(bitPattern: $0.baseAddress) &+ UInt(Int(number) &* MemoryLayout<HypercallHandler?>.stride)
    }
  }

  /// Installs `handle` for hypercall `number`.
  mutating func register(
    _ number: UInt32, structSize: UInt64, _ handle: @escaping (GuestMemory, UInt64) throws -> HypercallDisposition
  ) {
    handlers[Int(number)] = HypercallHandler(structSize: structSize, handle: handle)
  }

  /// Dispatches hypercall `number` with its struct at `address`.
  /// Returns nil when the struct is misaligned or outside guest memory: the caller faults the VM.
  /// An unknown number gets `DENALI_ENOSYS` in `ret`.
  func dispatch(number: UInt16, structAddress address: UInt64, memory: GuestMemory) -> HypercallDisposition? {
    guard address % 8 == 0 else { return nil }
    guard Int(number) < handlers.count, let handler = handlers[Int(number)] else {
      guard (try? memory.write(Int64(DENALI_ENOSYS), at: address)) != nil else { return nil }
      return .resume
    }
    guard memory.contains(address: address, length: handler.structSize) else { return nil }
    return try? handler.handle(memory, address)
  }
}

// Interrupt.swift: the virtual-interrupt bits an idle hypercall delivers (batched; nothing is injected).

/// Bits of the pending-interrupt mask that `idle(timeoutNanoseconds:)` returns.
public enum Interrupt {
  /// An idle's timeout passed (`DENALI_IRQ_TIMER`).
  public static let timer: UInt64 = DENALI_IRQ_TIMER
  /// A disk request completed (`DENALI_IRQ_DISK`; reserved: disk requests are synchronous for now).
  public static let disk: UInt64 = DENALI_IRQ_DISK
  /// A packet arrived (`DENALI_IRQ_NET_RX`; reserved for the network).
  public static let networkReceive: UInt64 = DENALI_IRQ_NET_RX
}

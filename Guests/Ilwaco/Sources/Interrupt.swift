// Interrupt.swift: the virtual-interrupt bits an idle hypercall delivers (batched; nothing is injected).

/// Bits of the pending-interrupt mask that `idle(timeoutNanoseconds:)` returns.
public enum Interrupt {
  /// An idle's timeout passed (`DENALI_IRQ_TIMER`).
  public static let timer: UInt64 = DENALI_IRQ_TIMER
  /// A disk request completed (`DENALI_IRQ_DISK`; reserved: disk requests are synchronous for now).
  public static let disk: UInt64 = DENALI_IRQ_DISK
  /// A frame arrived in the NIC's empty receive queue (`DENALI_IRQ_NET_RX`); after a receive, in the virtual
  /// registers: more frames wait.
  public static let networkReceive: UInt64 = DENALI_IRQ_NET_RX
}

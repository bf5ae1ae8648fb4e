// InterruptDeliveryTests.swift: raising a VM's interrupts costs the raising thread a constant stack depth,
// however many times it is done (the switch thread once overflowed its stack after ~16,000 wake-ups).
import DenaliABI
import Foundation
import KVM
import Synchronization
import Testing

@testable import DenaliCore

@Suite("Interrupt delivery")
struct InterruptDeliveryTests {
  /// Runs `body` on a new thread with a `stackSize`-byte stack and waits for it (bounded: 120 s).
  func onSmallStack(_ stackSize: Int, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      body()
      done.signal()
    }
    thread.stackSize = stackSize
    thread.start()
    return done.wait(timeout: .now() + 120) == .success
  }

  /// An address inside the caller's stack frame.
  @inline(never)
  static func stackAddress() -> UInt {
    var marker = 0
    return withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
  }

  @Test("1,000,000 raises with a listener: the listener runs at the same stack depth every time")
  func constantStackDepth() {
    let interrupts = VirtualInterrupts()
    let depths = Locked<(low: UInt, high: UInt, calls: Int)>((.max, 0, 0))
    interrupts.setListener {
      let address = Self.stackAddress()
      depths.withLock { $0 = (min($0.low, address), max($0.high, address), $0.calls + 1) }
    }
    let finished = onSmallStack(128 << 10) {
      for round in 0..<1_000 {
        for _ in 0..<1_000 {
          interrupts.raise(DENALI_IRQ_NET_RX)
          _ = interrupts.take()
        }
        // Stop early (instead of overflowing the 128 KiB stack) once the depth has drifted.
        if round % 10 == 0, depths.withLock({ $0.high &- $0.low }) > 4096 { return }
      }
    }
    #expect(finished, "the raising thread finished within 120 s")
    let (low, high, calls) = depths.withLock { $0 }
    #expect(calls == 1_000_000, "the listener ran for every raise")
    #expect(high &- low <= 256, "the listener's stack address varied by \(high &- low) bytes")
  }

  @Test("1,000,000 interrupts for a VM on a real scheduler, raised from a thread with a 256 KiB stack")
  func schedulerWakeups() throws {
    guard let system = try openKVMSystem(), let idler = BuiltGuests.image("idler") else { return }
    let scheduler = Scheduler(configuration: .init(workers: 1))
    scheduler.start()
    defer { scheduler.stop() }
    // idler idles for long periods: nearly every interrupt finds it idle (or waking) and wakes it.
    let guest = try GuestVM(
      system: system, image: idler, configuration: VMConfiguration(arguments: ["600000"], id: 1), console: { _ in })
    let interrupts = guest.interrupts
    scheduler.submit(guest, name: "idler")
    let finished = onSmallStack(256 << 10) {
      for _ in 0..<1_000_000 { interrupts.raise(DENALI_IRQ_NET_RX) }
    }
    #expect(finished, "the raising thread survived and finished within 120 s")
    #expect(scheduler.expire(id: 1))
    let reports = scheduler.waitForAll()
    #expect(reports.first?.outcome == .timedOut)
    #expect((reports.first?.accounting.timesScheduled ?? 0) >= 2, "interrupts woke the VM")
  }
}

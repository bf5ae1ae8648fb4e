// WakeupFootprint.swift: the host memory a VM's next wake-up touches first, as addresses the scheduler has the
// CPU fetch ahead of it.
import CMemoryHints

/// Host addresses of the memory a VM's next slice touches first: its objects, its vCPU's kick state and the
/// first line of kvm_run, its virtual registers and the idle call it waits in, in guest memory. With thousands
/// of VMs each woken once a second none of it is in a cache when the VM wakes, and a wake-up would otherwise wait
/// for each miss in turn; fetched together, the misses overlap. Only hints: a stale address (the VM was swapped
/// out, its memory unmapped or given to another guest) costs a wasted fetch, never a fault, and nothing is ever
/// read or written through one.
struct WakeupFootprint {
  /// The most addresses kept.
  static let capacity = 20
  /// Bytes per cache line.
  static let lineSize: UInt = 64

  private var lines = InlineArray<20, UInt>(repeating: 0)
  private var count = 0

  /// Adds the line holding `address` (0: nothing).
  mutating func add(_ address: UInt) {
    guard address != 0, count < Self.capacity else { return }
    lines[count] = address
    count += 1
  }

  /// Adds the first `lineCount` lines of `object`'s storage.
  mutating func add(object: AnyObject, lines lineCount: UInt = 1) {
    let base = UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())
    for line in 0..<lineCount { add(base &+ line &* Self.lineSize) }
  }

  /// Addresses kept.
  var addressCount: Int { count }

  /// True when the line holding `address` is kept.
  func contains(_ address: UInt) -> Bool {
    (0..<count).contains { lines[$0] / Self.lineSize == address / Self.lineSize }
  }

  /// Asks the CPU to fetch every line; returns at once.
  func prefetch() {
    for index in 0..<count {
      // SAFETY: a prefetch hint never faults and reads nothing into the program, whatever the address.
      memory_hint_prefetch(UnsafeRawPointer(bitPattern: lines[index]))
    }
  }
}

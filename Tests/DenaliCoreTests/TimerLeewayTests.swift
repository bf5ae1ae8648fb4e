// TimerLeewayTests.swift: timers fire up to a leeway in proportion to their length late, so that one wake-up of the
// timer thread serves many VMs, while a short sleep behind long ones keeps its own small leeway.
import KVM
import Testing

@testable import DenaliCore

@Suite("Timer leeway")
struct TimerLeewayTests {
  static let second: UInt64 = 1_000_000_000
  static let millisecond: UInt64 = 1_000_000

  /// A scheduler record (not in memory) for timer entries to refer to; nil when KVM or the guest is missing.
  func records(_ count: Int) throws -> [ScheduledVM]? {
    guard let system = try openKVMSystem(), let image = BuiltGuests.image("hello", memorySize: 2 << 20) else {
      return nil
    }
    return try (1...count).map { id in
      let guest = try GuestVM(
        system: system, image: image, configuration: VMConfiguration(memorySize: 2 << 20, id: UInt64(id)),
        resident: false
      ) { _ in }
      return ScheduledVM(guest: guest, name: "vm\(id)")
    }
  }

  @Test("a timer's leeway is a sixty-fourth of its length, at most 8 ms")
  func leewayRule() {
    #expect(TimerLeeway.forDuration(0) == 0)
    #expect(TimerLeeway.forDuration(Self.millisecond) == 15_625)
    #expect(TimerLeeway.forDuration(100 * Self.millisecond) == 1_562_500)
    #expect(TimerLeeway.forDuration(Self.second) == TimerLeeway.maximum)
    #expect(TimerLeeway.forDuration(.max) == TimerLeeway.maximum)
  }

  @Test("long timers are batched: the timer thread wakes once at the first one's latest time and fires all due")
  func longTimersBatch() throws {
    guard let vms = try records(3) else { return }
    var timers = TimerQueue()
    let deadlines = [Self.second, Self.second + 2 * Self.millisecond, Self.second + 5 * Self.millisecond]
    for (vm, deadline) in zip(vms, deadlines) {
      timers.add(at: deadline, leeway: TimerLeeway.forDuration(Self.second), .timeout(vm))
    }
    let next = timers.nextWake(now: 0)
    let wake = try #require(next)
    #expect(wake == Self.second + TimerLeeway.maximum, "one wake-up 8 ms after the first deadline")
    var fired: [UInt64] = []
    while let entry = timers.popDue(now: wake) { fired.append(entry.deadline) }
    #expect(fired == deadlines, "every timer due by then fires in that one wake-up")
    let after = timers.nextWake(now: wake)
    #expect(after == nil)
  }

  @Test("a short timer behind a long one wakes the timer thread at its own latest time, not the long one's")
  func shortTimerKeepsItsLeeway() throws {
    guard let vms = try records(2) else { return }
    var timers = TimerQueue()
    timers.add(at: Self.second, leeway: TimerLeeway.forDuration(Self.second), .timeout(vms[0]))
    let short = Self.second + Self.millisecond
    let shortLeeway = TimerLeeway.forDuration(Self.millisecond)
    timers.add(at: short, leeway: shortLeeway, .timeout(vms[1]))
    // Without the second heap the wake-up would be the long timer's latest time, 7 ms after the short deadline.
    let first = timers.nextWake(now: 0)
    #expect(first == short + shortLeeway)
    var fired: [UInt64] = []
    while let entry = timers.popDue(now: short + shortLeeway) { fired.append(entry.deadline) }
    #expect(fired == [Self.second, short])
    let after = timers.nextWake(now: short + shortLeeway)
    #expect(after == nil, "a passed precise time is forgotten")
  }

  @Test("stale short timers do not pile up: compaction drops their latest times with them")
  func staleShortTimersCompacted() throws {
    guard let vms = try records(1) else { return }
    var timers = TimerQueue()
    // 10,000 short idles, each cut short at once (as a guest woken early by interrupts does): stale entries.
    vms[0].state = .idle
    for round in 1...10_000 {
      vms[0].idleGeneration = UInt64(round)
      vms[0].hasWakeTimer = true
      timers.add(
        at: Self.second + UInt64(round), leeway: TimerLeeway.forDuration(Self.millisecond),
        .wake(vms[0], generation: UInt64(round)))
      vms[0].hasWakeTimer = false
      timers.noteStale()
    }
    #expect(timers.storedEntries < 200, "entries and latest times kept: \(timers.storedEntries)")
  }
}

// EventLoop.swift: timers and interrupt handlers on top of idle-with-timeout (one loop per guest).

/// A single-threaded event loop: `run()` idles until the earliest timer's deadline or a virtual
/// interrupt, then runs the timers that are due and the handlers of the interrupts delivered.
/// Handlers and timer actions run on the loop; they may schedule, cancel or `stop()`.
public final class EventLoop {
  /// Identifies a scheduled timer, for `cancel(_:)`.
  public struct Timer: Equatable {
    /// Unique within its loop; never reused.
    fileprivate let id: UInt64
  }

  /// A scheduled timer. Kept compact (no holes), so each loop turn costs time proportional to live timers.
  private struct Entry {
    var id: UInt64
    var deadline: UInt64
    var interval: UInt64  // 0: one-shot
    var action: () -> Void
  }

  /// An interrupt handler and the `Interrupt` bits it wants.
  private struct Handler {
    var mask: UInt64
    var action: (UInt64) -> Void
  }

  private var entries: [Entry] = []
  private var handlers: [Handler] = []
  private var nextID: UInt64 = 1
  private var running = false

  /// A loop with no timers and no handlers.
  public init() {}

  /// Number of timers scheduled and not yet fired (one-shot) or cancelled.
  public var timerCount: Int { entries.count }

  /// Runs `action` once `nanoseconds` have passed on `Clock.monotonicNanoseconds` (counted from its last
  /// refresh), and then every `nanoseconds` again if `repeating` (at least 1 ns apart; a late repeating
  /// timer does not fire in a burst to catch up). Returns the timer, for `cancel(_:)`.
  @discardableResult
  public func schedule(afterNanoseconds nanoseconds: UInt64, repeating: Bool = false, _ action: @escaping () -> Void)
    -> Timer
  {
    let interval = repeating ? max(nanoseconds, 1) : 0
    let id = nextID
    nextID += 1
    entries.append(Entry(id: id, deadline: EventLoop.deadline(after: nanoseconds), interval: interval, action: action))
    return Timer(id: id)
  }

  /// As `schedule(afterNanoseconds:repeating:_:)`, in milliseconds.
  @discardableResult
  public func schedule(afterMilliseconds milliseconds: UInt64, repeating: Bool = false, _ action: @escaping () -> Void)
    -> Timer
  {
    let (nanoseconds, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
    return schedule(afterNanoseconds: overflow ? .max : nanoseconds, repeating: repeating, action)
  }

  /// Cancels `timer`; returns false if it already fired (one-shot) or was cancelled.
  @discardableResult
  public func cancel(_ timer: Timer) -> Bool {
    for index in entries.indices where entries[index].id == timer.id {
      entries.swapAt(index, entries.count - 1)
      entries.removeLast()
      return true
    }
    return false
  }

  /// Calls `handler` with the delivered bits that are in `mask` whenever an idle delivers any of them
  /// (handlers run in the order they were added).
  public func onInterrupt(_ mask: UInt64, _ handler: @escaping (UInt64) -> Void) {
    handlers.append(Handler(mask: mask, action: handler))
  }

  /// Runs until `stop()` is called, or until nothing can happen any more (no timers and no handlers).
  public func run() {
    running = true
    while running {
      fireDueTimers(now: Clock.monotonicNanoseconds)
      guard running else { break }
      var earliest = UInt64.max
      for entry in entries where entry.deadline < earliest { earliest = entry.deadline }
      if entries.isEmpty && handlers.isEmpty { break }
      let now = Clock.monotonicNanoseconds  // the actions' hypercalls may have moved it on
      var timeout = idleForever
      if !entries.isEmpty {
        guard earliest > now else { continue }  // already due: fire it without idling
        timeout = earliest - now
      }
      let pending = idle(timeoutNanoseconds: timeout)
      if pending != 0 { dispatch(pending) }
    }
    running = false
  }

  /// Makes `run()` return after the current timer action or handler.
  public func stop() { running = false }

  /// Runs (and reschedules or removes) every timer whose deadline is at or before `now`, earliest first.
  /// One timer at a time, re-scanning after each action: an action may cancel or add timers.
  private func fireDueTimers(now: UInt64) {
    while running {
      var next = -1
      for index in entries.indices where entries[index].deadline <= now {
        if next >= 0 {
          let best = entries[next]
          let candidate = entries[index]
          if candidate.deadline > best.deadline || (candidate.deadline == best.deadline && candidate.id > best.id) {
            continue
          }
        }
        next = index
      }
      guard next >= 0 else { return }
      let entry = entries[next]
      if entry.interval > 0 {
        let (deadline, overflow) = entry.deadline.addingReportingOverflow(entry.interval)
        entries[next].deadline =
          overflow ? .max : (deadline > now ? deadline : EventLoop.deadline(after: entry.interval))
      } else {
        entries.swapAt(next, entries.count - 1)
        entries.removeLast()
      }
      entry.action()
    }
  }

  /// Calls every handler whose mask meets `pending`.
  private func dispatch(_ pending: UInt64) {
    var index = 0
    while index < handlers.count && running {
      let handler = handlers[index]
      if handler.mask & pending != 0 { handler.action(handler.mask & pending) }
      index += 1
    }
  }

  /// `Clock.monotonicNanoseconds + nanoseconds`, saturating.
  private static func deadline(after nanoseconds: UInt64) -> UInt64 {
    let (deadline, overflow) = Clock.monotonicNanoseconds.addingReportingOverflow(nanoseconds)
    return overflow ? .max : deadline
  }
}

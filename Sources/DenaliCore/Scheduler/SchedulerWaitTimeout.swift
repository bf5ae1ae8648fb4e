// SchedulerWaitTimeout.swift: a bounded wait on the scheduler that ran out, with what it was waiting for.

/// A wait on the scheduler gave up after its limit; it names what it waited for and the VMs still live.
public struct SchedulerWaitTimeout: Error, CustomStringConvertible, Sendable {
  /// What the wait was for (for example "every VM to finish").
  public let waitedFor: String
  /// How long it waited.
  public let limit: Duration
  /// The live VMs (at most 20) as `vm ID NAME: PHASE`.
  public let live: [String]

  /// "gave up waiting for ... after ...: vm 1 echo: idle, ..."
  public var description: String {
    "gave up waiting for \(waitedFor) after \(limit): \(live.isEmpty ? "none live" : live.joined(separator: "; "))"
  }
}

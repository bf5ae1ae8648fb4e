// RunningServiceProbe.swift: a `counter` VM started before a burst, whose longest gap between two counts (on its
// own clock) says how long a running service went without the CPU while the burst was admitted.
import ArgumentParser
import ControlAPI
import Foundation

/// A counter VM in a benchmark daemon: created before the burst, read after it, killed before the rest.
struct RunningServiceProbe {
  /// The counter's period, milliseconds.
  static let intervalMilliseconds = 20
  /// The target: the longest the counter may go without counting during the burst, microseconds.
  static let targetMicroseconds: UInt64 = 200_000

  /// The VM's id.
  let id: UInt64

  /// Creates the counter (`counter interval-ms=20 quiet gaps`) and waits until it has counted once.
  static func start(image: String, memory: String, client: ControlClient, limit: Duration) throws -> RunningServiceProbe
  {
    let body = CreateVMsBody(
      image: image, count: 1, name: "running-service", memory: memory,
      arguments: ["interval-ms=\(intervalMilliseconds)", "quiet", "gaps"])
    let created: CreateVMsResponse
    do { created = try client.createVMs(body) } catch {
      throw ValidationError("creating the counter VM failed: \(error)")
    }
    guard let vm = created.vms.first else { throw ValidationError("the daemon created no counter VM") }
    let probe = RunningServiceProbe(id: vm.id)
    let deadline = ContinuousClock.now + limit
    while probe.longestGapMicroseconds(client: client) == nil {
      guard ContinuousClock.now < deadline else {
        throw ValidationError("the counter VM did not count within \(limit)")
      }
      Thread.sleep(forTimeInterval: 0.02)
    }
    return probe
  }

  /// The longest gap between two counts the counter has reported (`max-gap-us N`), microseconds; nil before any.
  func longestGapMicroseconds(client: ControlClient) -> UInt64? {
    guard let tail = try? client.consoleTail(String(id), lines: 1000) else { return nil }
    return String(decoding: tail, as: UTF8.self).split(separator: "\n").compactMap { line in
      line.hasPrefix("max-gap-us ") ? UInt64(line.dropFirst("max-gap-us ".count)) : nil
    }.max()
  }

  /// Stops the counter.
  func stop(client: ControlClient) { _ = try? client.killVM(String(id)) }
}

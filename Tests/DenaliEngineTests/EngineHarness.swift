// EngineHarness.swift: the engine built in-process on a fresh state directory, the guests it runs, and waits
// with generous bounds, for the engine's tests.
import ControlAPI
import Foundation
import Testing

@testable import DenaliEngine

/// One state directory and the engines started on it in turn (as daemons restarting on the same state).
final class EngineHarness {
  /// The state directory (removed by `remove()`).
  let stateDirectory: String
  /// The settings every engine of this harness is built with (tests change them between restarts).
  var configuration: EngineConfiguration

  /// A harness on a fresh state directory, or nil (the test is skipped) when KVM or the guests are missing.
  init?(maximumVMs: Int = 100, keptFinishedVMs: Int = 100, memoryBudget: UInt64 = 64 << 20) {
    guard Self.kvmAvailable() else { return nil }
    stateDirectory = NSTemporaryDirectory() + "denali-engine-\(UUID().uuidString)"
    configuration = EngineConfiguration(
      stateDirectory: stateDirectory, workers: 1, memoryBudget: memoryBudget, swapThreads: 1, maximumVMs: maximumVMs,
      keptFinishedVMs: keptFinishedVMs, consoleBytes: 64 << 10)
  }

  /// Builds an engine on the state directory (recovering what an earlier one left) without starting it.
  func make() throws -> any ControlBackend { try makeControlBackend(configuration: configuration) }

  /// Builds and starts an engine.
  func start() throws -> any ControlBackend {
    let engine = try make()
    try engine.start()
    return engine
  }

  /// Runs `body` with an engine (started when `started`) on a fresh state directory, then stops the engine and
  /// deletes the directory; does nothing when KVM is missing.
  static func withEngine(
    maximumVMs: Int = 100, keptFinishedVMs: Int = 100, started: Bool = true,
    _ body: (EngineHarness, any ControlBackend) throws -> Void
  ) throws {
    guard let harness = EngineHarness(maximumVMs: maximumVMs, keptFinishedVMs: keptFinishedVMs) else { return }
    defer { harness.remove() }
    let engine = started ? try harness.start() : try harness.make()
    defer { engine.shutdown() }
    try body(harness, engine)
  }

  /// Deletes the state directory.
  func remove() { try? FileManager.default.removeItem(atPath: stateDirectory) }

  /// The path of `name` under the state directory.
  func path(_ name: String) -> String { stateDirectory + "/" + name }

  /// True when /dev/kvm is there; records an issue in CI when it is not.
  static func kvmAvailable() -> Bool {
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        Issue.record("/dev/kvm is missing, and CI requires it")
      } else {
        print("skipping: /dev/kvm is not available on this machine")
      }
      return false
    }
    return true
  }
}

/// The built guest images ($DENALI_GUESTS_DIR or Guests/build), as the API layer hands them to the engine.
enum Guest {
  /// The folder of the built guests.
  static let directory =
    ProcessInfo.processInfo.environment["DENALI_GUESTS_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Guests/build").path

  /// The image `name`, read; records an issue (the test then fails) when it was not built.
  static func image(_ name: String) throws -> ResolvedImage {
    let path = "\(directory)/\(name).elf"
    guard let data = FileManager.default.contents(atPath: path) else {
      Issue.record("guest \(name) is not built (make guests): no \(path)")
      throw GuestMissing()
    }
    return ResolvedImage(path: path, bytes: Array(data))
  }

  /// A request for `count` VMs of 2 MiB running `name` with `arguments`.
  static func request(
    _ name: String, count: Int = 1, names: [String]? = nil, arguments: [String] = [], diskBytes: UInt64? = nil
  ) throws -> VMCreationRequest {
    VMCreationRequest(
      image: try image(name), count: count, names: names, memoryBytes: 2 << 20, diskBytes: diskBytes,
      arguments: arguments)
  }

  /// A guest image was not built.
  struct GuestMissing: Error {}
}

/// Calls `condition` every 20 ms until it is true or `limit` passes (generous: the machine is shared); returns
/// whether it became true.
@discardableResult
func waitUntil(_ limit: Duration = .seconds(30), _ condition: () throws -> Bool) rethrows -> Bool {
  let deadline = ContinuousClock.now + limit
  while ContinuousClock.now < deadline {
    if try condition() { return true }
    Thread.sleep(forTimeInterval: 0.02)
  }
  return try condition()
}

extension ControlBackend {
  /// VM `id`'s console as text.
  func console(_ id: UInt64) throws -> String {
    String(decoding: try consoleTail(.id(id), lines: 0), as: UTF8.self)
  }

  /// The `count N` values a counter guest printed on VM `id`'s console, in order.
  func counts(_ id: UInt64) throws -> [Int] {
    try console(id).split(separator: "\n").compactMap { line in
      line.hasPrefix("count ") ? Int(line.dropFirst("count ".count)) : nil
    }
  }

  /// Waits until VM `id` has finished; returns its state then.
  func waitForEnd(_ id: UInt64) throws -> VMState {
    waitUntil { (try? inspectVM(.id(id)).state.isFinished) ?? false }
    return try inspectVM(.id(id)).state
  }
}

/// The error `body` throws, or nil (with an issue recorded) when it throws none.
func refusal<T>(_ body: () throws(ControlBackendError) -> T) -> ControlBackendError? {
  do {
    _ = try body()
    Issue.record("the request succeeded")
    return nil
  } catch {
    return error
  }
}

/// Expects `refused` to be a host error (HTTP 500) whose message names `detail`.
func expectHostError(
  _ refused: ControlBackendError?, naming detail: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard case .hostError(let message)? = refused else {
    Issue.record("not a host error: \(String(describing: refused))", sourceLocation: sourceLocation)
    return
  }
  #expect(message.contains(detail), "\(message)", sourceLocation: sourceLocation)
  #expect(httpStatus(refused) == 500, sourceLocation: sourceLocation)
}

/// The HTTP status the control API answers the engine's `error` with.
func httpStatus(_ error: ControlBackendError?) -> Int? { error.map { ControlError($0).statusCode } }

/// True when `values` is `first, first + 1, ...` with no gap and no repeat.
func isContiguous(_ values: [Int]) -> Bool {
  zip(values, values.dropFirst()).allSatisfy { $1 == $0 + 1 }
}

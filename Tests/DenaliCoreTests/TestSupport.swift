// TestSupport.swift: what several DenaliCore test suites share: opening KVM, built guests, console capture.
import Foundation
import KVM
import Synchronization
import Testing

@testable import DenaliCore

/// Opens /dev/kvm, or returns nil (the test is skipped) when it is missing outside CI.
func openKVMSystem() throws -> KVMSystem? {
  if !FileManager.default.fileExists(atPath: "/dev/kvm") {
    if ProcessInfo.processInfo.environment["CI"] == "true" {
      Issue.record("/dev/kvm is missing, and CI requires it")
    } else {
      print("skipping: /dev/kvm is not available on this machine")
    }
    return nil
  }
  return try KVMSystem()
}

/// Loads built guest images for in-process tests ($DENALI_GUESTS_DIR or Guests/build).
enum BuiltGuests {
  static let directory =
    ProcessInfo.processInfo.environment["DENALI_GUESTS_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Guests/build").path

  /// The image `name`, or nil (with an issue recorded) when it was not built.
  static func image(_ name: String, memorySize: UInt64 = VMConfiguration.defaultMemorySize) -> GuestImage? {
    do {
      return try GuestImage(contentsOf: "\(directory)/\(name).elf", memorySize: memorySize)
    } catch {
      Issue.record("guest \(name) is not built (make guests): \(error)")
      return nil
    }
  }
}

/// Collects console output from worker threads.
final class SharedConsole: Sendable {
  private let bytes = Locked<[UInt8]>([])
  /// A sink appending to this capture.
  var sink: ConsoleDevice.Sink { { [self] buffer in bytes.withLock { $0.append(contentsOf: buffer) } } }
  /// Everything captured so far.
  var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
}

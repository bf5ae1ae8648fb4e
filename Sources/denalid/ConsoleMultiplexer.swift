// ConsoleMultiplexer.swift: the consoles of many VMs on one standard output, line by line, prefixed by VM id.
import DenaliCore
import Synchronization

/// Merges VM consoles onto standard output. With one VM the bytes pass through untouched; with several,
/// each complete line is written whole, prefixed `[vm N] `; `quiet` drops everything.
final class ConsoleMultiplexer: Sendable {
  private let prefixed: Bool
  private let quiet: Bool
  /// Partial lines per VM, and the output lock (whole lines from different VMs never interleave).
  private let partial = Mutex<[UInt64: [UInt8]]>([:])

  /// A multiplexer for `vmCount` VMs.
  init(vmCount: Int, quiet: Bool) {
    self.prefixed = vmCount > 1
    self.quiet = quiet
  }

  /// The console sink for VM `id`.
  func sink(for id: UInt64) -> ConsoleDevice.Sink {
    if quiet { return { _ in } }
    if !prefixed { return { StandardStream.write($0, to: 1) } }
    let prefix = Array("[vm \(id)] ".utf8)
    return { [self] bytes in
      partial.withLock { buffers in
        var pending = buffers[id, default: []]
        pending.append(contentsOf: bytes)
        if let lastNewline = pending.lastIndex(of: 0x0A) {
          var output: [UInt8] = []
          for line in pending[...lastNewline].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            output += prefix + line + [0x0A]
          }
          output.withUnsafeBytes { StandardStream.write($0, to: 1) }
          pending.removeSubrange(...lastNewline)
        }
        buffers[id] = pending.isEmpty ? nil : pending
      }
    }
  }

  /// Writes what is left of VM `id`'s last line (without a newline the guest never sent), then forgets it.
  func finish(_ id: UInt64) {
    guard prefixed, !quiet else { return }
    partial.withLock { buffers in
      guard let rest = buffers.removeValue(forKey: id) else { return }
      (Array("[vm \(id)] ".utf8) + rest + [0x0A]).withUnsafeBytes { StandardStream.write($0, to: 1) }
    }
  }
}

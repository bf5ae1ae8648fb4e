// ConsoleMultiplexer.swift: the consoles of many VMs on one standard output, line by line, prefixed by VM id.
import DenaliCommandLine
import DenaliCore

/// Merges VM consoles onto standard output. With one VM the bytes pass through untouched; with several,
/// each complete line is written whole, prefixed `[vm N] `; `quiet` drops everything.
///
/// Each VM assembles its own partial line (only its own worker writes to it), so one VM's console never
/// waits on another's: the shared lock covers only writing finished lines to standard output. A partial
/// line is bounded: at `lineLimit` bytes without a newline it is written as a line of its own, so a guest
/// that never ends its lines costs a fixed amount of memory and every write costs what it writes.
final class ConsoleMultiplexer: Sendable {
  /// The longest line kept whole; longer ones are written in pieces of this size.
  static let lineLimit = 4096

  /// One VM's unfinished line. Used by the VM's current worker and, after the VM ends, by `finish`.
  private final class LineBuffer: @unchecked Sendable {
    let prefix: [UInt8]
    // Only the VM's own sink touches this until the VM ends (the scheduler orders its slices); then `finish`.
    var pending: [UInt8] = []

    init(id: UInt64) {
      prefix = Array("[vm \(id)] ".utf8)
      pending.reserveCapacity(128)
    }
  }

  private let prefixed: Bool
  private let quiet: Bool
  /// Each VM's line buffer, for `finish`.
  private let buffers = Locked<[UInt64: LineBuffer]>([:])
  /// Held while writing to standard output, so whole lines from different VMs never interleave.
  private let output = Locked<Void>(())

  /// A multiplexer for `vmCount` VMs.
  init(vmCount: Int, quiet: Bool) {
    self.prefixed = vmCount > 1
    self.quiet = quiet
  }

  /// The console sink for VM `id`.
  func sink(for id: UInt64) -> ConsoleDevice.Sink {
    if quiet { return { _ in } }
    if !prefixed { return { StandardStream.write($0, to: 1) } }
    let buffer = LineBuffer(id: id)
    buffers.withLock { $0[id] = buffer }
    return { [self] bytes in append(bytes, to: buffer) }
  }

  /// Adds a console write to `buffer` and writes out every line it completes (or fills).
  private func append(_ bytes: UnsafeRawBufferPointer, to buffer: LineBuffer) {
    var lines: [UInt8] = []
    var start = 0
    while start < bytes.count {
      let room = Self.lineLimit - buffer.pending.count
      let window = bytes[start..<min(bytes.count, start + room)]
      if let newline = window.firstIndex(of: 0x0A) {
        lines += buffer.prefix
        lines += buffer.pending
        lines += bytes[start...newline]
        buffer.pending.removeAll(keepingCapacity: true)
        start = newline + 1
      } else if window.count == room {
        // A full line without a newline: out it goes, as a line of its own.
        lines += buffer.prefix
        lines += buffer.pending
        lines += window
        lines.append(0x0A)
        buffer.pending.removeAll(keepingCapacity: true)
        start += room
      } else {
        buffer.pending += window
        start = bytes.count
      }
    }
    guard !lines.isEmpty else { return }
    output.withLock { _ in lines.withUnsafeBytes { StandardStream.write($0, to: 1) } }
  }

  /// Writes what is left of VM `id`'s last line (without a newline the guest never sent), then forgets it.
  func finish(_ id: UInt64) {
    guard prefixed, !quiet, let buffer = buffers.withLock({ $0.removeValue(forKey: id) }), !buffer.pending.isEmpty
    else { return }
    let line = buffer.prefix + buffer.pending + [0x0A]
    output.withLock { _ in line.withUnsafeBytes { StandardStream.write($0, to: 1) } }
  }
}

// ConsoleDevice.swift: the console: guest bytes out through the console-write hypercall to a host sink.
import DenaliABI
import KVM

/// A VM's console output device.
public final class ConsoleDevice {
  /// Receives each console write; the buffer is valid only during the call.
  public typealias Sink = (UnsafeRawBufferPointer) -> Void

  private let sink: Sink
  /// Total bytes the guest has written.
  public private(set) var bytesWritten: UInt64 = 0

  /// A console that hands every write to `sink`.
  public init(sink: @escaping Sink) { self.sink = sink }

  /// Registers the console-write hypercall in `table`.
  func register(in table: inout HypercallTable) {
    table.register(DENALI_HC_CONSOLE_WRITE, structSize: UInt64(MemoryLayout<denali_hc_console_write>.size)) {
      [self] memory, address in
      try self.write(memory: memory, structAddress: address)
    }
  }

  /// Handles one console write; errors go back to the guest in `ret`.
  private func write(memory: GuestMemory, structAddress: UInt64) throws -> HypercallDisposition {
    let call = try memory.load(denali_hc_console_write.self, at: structAddress)
    let ret: Int64
    if call.length > UInt64(DENALI_CONSOLE_WRITE_MAX) {
      ret = Int64(DENALI_EINVAL)
    } else if !memory.contains(address: call.data, length: call.length) {
      ret = Int64(DENALI_EFAULT)
    } else {
      try memory.withBytes(at: call.data, count: call.length) { sink($0) }
      bytesWritten += call.length
      ret = Int64(call.length)
    }
    try memory.write(ret, at: structAddress)
    return .resume
  }
}

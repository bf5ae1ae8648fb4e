// DiskDevice.swift: the virtual disk: info, read and write hypercalls on 4 KiB blocks, every argument checked.
import DenaliABI
import KVM

/// A VM's virtual disk (or its absence): answers the disk hypercalls with synchronous completion.
public final class DiskDevice {
  /// The backing file; nil when the VM has no disk.
  public let file: DiskFile?
  /// Blocks read and written so far.
  public private(set) var blocksRead: UInt64 = 0, blocksWritten: UInt64 = 0
  /// Nanoseconds the VM's thread waited on the disk file without using the CPU (wall minus thread CPU time
  /// of each transfer): worker time the scheduler charges the VM beside its CPU time.
  public private(set) var waitNanoseconds: UInt64 = 0

  /// A disk device over `file` (nil: no disk; every call returns DENALI_ENODEV).
  public init(file: DiskFile?) { self.file = file }

  /// Blocks for the virtual registers (0 without a disk).
  var blocks: UInt64 { file?.blocks ?? 0 }
  /// Flags for the virtual registers.
  var flags: UInt64 { file?.isReadOnly == true ? DENALI_DISK_READ_ONLY : 0 }

  /// Registers the disk hypercalls in `table`.
  func register(in table: inout HypercallTable) {
    table.register(DENALI_HC_DISK_INFO, structSize: UInt64(MemoryLayout<denali_hc_disk_info>.size)) {
      [self] memory, address in
      var call = try memory.load(denali_hc_disk_info.self, at: address)
      call.ret = file == nil ? Int64(DENALI_ENODEV) : 0
      call.blocks = blocks
      call.flags = flags
      try memory.store(call, at: address)
      return .resume
    }
    let size = UInt64(MemoryLayout<denali_hc_disk_io>.size)
    table.register(DENALI_HC_DISK_READ, structSize: size) { [self] memory, address in
      try transfer(memory: memory, structAddress: address, isWrite: false)
    }
    table.register(DENALI_HC_DISK_WRITE, structSize: size) { [self] memory, address in
      try transfer(memory: memory, structAddress: address, isWrite: true)
    }
  }

  /// Checks a read or write request and performs it; the outcome goes back in `ret`.
  private func transfer(memory: GuestMemory, structAddress: UInt64, isWrite: Bool) throws -> HypercallDisposition {
    let call = try memory.load(denali_hc_disk_io.self, at: structAddress)
    let ret = try perform(call, memory: memory, isWrite: isWrite)
    try memory.write(ret, at: structAddress)
    return .resume
  }

  private func perform(_ call: denali_hc_disk_io, memory: GuestMemory, isWrite: Bool) throws -> Int64 {
    guard let file else { return Int64(DENALI_ENODEV) }
    guard call.count > 0, call.count <= UInt64(DENALI_DISK_IO_MAX_BLOCKS) else { return Int64(DENALI_EINVAL) }
    let (end, overflow) = call.block.addingReportingOverflow(call.count)
    guard !overflow, end <= file.blocks else { return Int64(DENALI_ERANGE) }
    let length = call.count * DiskFile.blockSize
    guard memory.contains(address: call.buffer, length: length) else { return Int64(DENALI_EFAULT) }
    if isWrite && file.isReadOnly { return Int64(DENALI_EROFS) }
    let offset = call.block * DiskFile.blockSize
    let (wallBefore, cpuBefore) = (monotonicNanoseconds(), threadCPUNanoseconds())
    defer {
      let wall = monotonicNanoseconds() &- wallBefore
      let cpu = threadCPUNanoseconds() &- cpuBefore
      if wall > cpu { waitNanoseconds &+= wall - cpu }
    }
    let succeeded: Bool
    if isWrite {
      succeeded = try memory.withBytes(at: call.buffer, count: length) { file.write($0, at: offset) }
      if succeeded { blocksWritten += call.count }
    } else {
      succeeded = try memory.withMutableBytes(at: call.buffer, count: length) { file.read(into: $0, at: offset) }
      if succeeded { blocksRead += call.count }
    }
    return succeeded ? Int64(call.count) : Int64(DENALI_EIO)
  }
}

// ModelSpecificRegisters.swift: reading and writing many MSRs of a vCPU in one ioctl each way.
import CKVM
import Glibc

/// A register named by a number, and its value: a model-specific register, or an extended control register.
public struct NumberedRegister: Equatable, Sendable {
  /// The register's number (the MSR index, the XCR number).
  public var index: UInt32
  /// Its value.
  public var value: UInt64

  /// A register and its value.
  public init(index: UInt32, value: UInt64) {
    self.index = index
    self.value = value
  }
}

/// One model-specific register and its value.
public typealias MSREntry = NumberedRegister

extension VCPU {
  /// Reads the MSRs `indices` with one `KVM_GET_MSRS`; throws when KVM refuses any of them.
  public func readMSRs(_ indices: [UInt32]) throws(KVMError) -> [MSREntry] {
    let (values, read) = Self.readMSRs(vcpuFD: fd, indices)
    guard read == indices.count else {
      let failed = read >= 0 && read < indices.count ? " at 0x\(String(indices[read], radix: 16))" : ""
      throw KVMError(
        operation: "KVM_GET_MSRS (\(max(read, 0)) of \(indices.count) read\(failed))",
        errno: read < 0 ? Glibc.errno : EINVAL)
    }
    return zip(indices, values).map { MSREntry(index: $0, value: $1) }
  }

  /// Writes `entries` with `KVM_SET_MSRS`, skipping any KVM refuses (it stops at the first, so the rest are
  /// written by further calls); returns the refused entries.
  public func writeMSRs(_ entries: [MSREntry]) throws(KVMError) -> [MSREntry] {
    try Self.writeMSRs(vcpuFD: fd, entries)
  }

  /// `writeMSRs` on the vCPU descriptor `vcpuFD`, `msrsPerCall` at a time.
  static func writeMSRs(vcpuFD fd: Int32, _ entries: [MSREntry]) throws(KVMError) -> [MSREntry] {
    var refused: [MSREntry] = []
    var start = 0
    while start < entries.count {
      let slice = entries[start..<min(start + Self.msrsPerCall, entries.count)]
      let indices = slice.map(\.index)
      let values = slice.map(\.value)
      // SAFETY: both arrays hold `slice.count` entries, the count passed.
      let written = Int(ckvm_set_msrs(fd, UInt32(slice.count), indices, values))
      guard written >= 0 else { throw KVMError.last("KVM_SET_MSRS") }
      if written >= slice.count {
        start += slice.count
        continue
      }
      refused.append(entries[start + written])
      start += written + 1
    }
    return refused
  }

  /// The most MSRs one `KVM_GET_MSRS` or `KVM_SET_MSRS` may carry (KVM refuses 256 and more with E2BIG).
  static let msrsPerCall = 128

  /// Reads `indices` on the vCPU descriptor `vcpuFD`, `msrsPerCall` at a time: the values (one per index, 0 where
  /// not read) and how many KVM read before the first it refused, or -1 with errno.
  static func readMSRs(vcpuFD: Int32, _ indices: [UInt32]) -> (values: [UInt64], read: Int) {
    var values = [UInt64](repeating: 0, count: indices.count)
    var start = 0
    while start < indices.count {
      let chunk = Array(indices[start..<min(start + msrsPerCall, indices.count)])
      var chunkValues = [UInt64](repeating: 0, count: chunk.count)
      let read = chunkValues.withUnsafeMutableBufferPointer { buffer in
        // SAFETY: `chunk` and `buffer` both hold `chunk.count` entries, the count passed.
        Int(ckvm_get_msrs(vcpuFD, UInt32(chunk.count), chunk, buffer.baseAddress))
      }
      guard read >= 0 else { return (values, start == 0 ? -1 : start) }
      for offset in 0..<min(read, chunk.count) { values[start + offset] = chunkValues[offset] }
      if read < chunk.count { return (values, start + read) }
      start += chunk.count
    }
    return (values, indices.count)
  }
}

// MSRIndexList.swift: the MSRs KVM names for save and restore (KVM_GET_MSR_INDEX_LIST) and its feature MSRs
// (KVM_GET_MSR_FEATURE_INDEX_LIST).
import CKVM
import Glibc

extension KVMSystem {
  /// The most entries either list may have; a longer list is refused rather than allocated.
  public static let maximumMSRIndexListCount: UInt32 = 4096

  /// The MSRs KVM lists for saving and restoring a vCPU (`KVM_GET_MSR_INDEX_LIST`).
  public func msrIndexList() throws(KVMError) -> [UInt32] {
    try Self.msrIndexList(kvmFD: fd, request: CKVM_GET_MSR_INDEX_LIST, name: "KVM_GET_MSR_INDEX_LIST")
  }

  /// KVM's feature MSRs (`KVM_GET_MSR_FEATURE_INDEX_LIST`); empty when KVM has none to list.
  public func featureMSRIndexList() throws(KVMError) -> [UInt32] {
    try Self.msrIndexList(kvmFD: fd, request: CKVM_GET_MSR_FEATURE_INDEX_LIST, name: "KVM_GET_MSR_FEATURE_INDEX_LIST")
  }

  /// Runs one of the two list ioctls on `kvmFD`: first to learn the count, then to fill a buffer of that size.
  static func msrIndexList(kvmFD: Int32, request: UInt, name: String) throws(KVMError) -> [UInt32] {
    var count: UInt32 = 0
    var probe: UInt32 = 0
    // SAFETY: a capacity of 0 lets KVM write only the count; `probe` is one valid entry it never touches.
    if ckvm_get_msr_index_list(kvmFD, request, 0, &count, &probe) == 0 { return [] }
    guard Glibc.errno == E2BIG else { throw KVMError.last(name) }
    guard count <= maximumMSRIndexListCount else {
      throw KVMError(operation: "\(name) (\(count) entries, more than \(maximumMSRIndexListCount))", errno: E2BIG)
    }
    var indices = [UInt32](repeating: 0, count: Int(count))
    var filled: UInt32 = 0
    let result = indices.withUnsafeMutableBufferPointer { buffer in
      // SAFETY: the buffer holds `count` entries, the capacity passed; KVM writes at most that many.
      ckvm_get_msr_index_list(kvmFD, request, count, &filled, buffer.baseAddress)
    }
    guard result == 0 else { throw KVMError.last(name) }
    return Array(indices.prefix(Int(min(filled, count))))
  }
}

// VirtualMachine.swift: one KVM VM file descriptor, its memory slots and its vCPUs.
import CKVM
import Glibc

/// A KVM virtual machine: owns its fd and keeps its memory regions alive while mapped.
public final class VirtualMachine {
  /// The VM file descriptor; -1 after `releaseDescriptor()`.
  public private(set) var fd: Int32
  /// The system this VM was created from.
  public let system: KVMSystem
  private var regions: [UInt32: (region: MemoryRegion, address: UInt64, logDirtyPages: Bool)] = [:]

  init(fd: Int32, system: KVMSystem) {
    self.fd = fd
    self.system = system
  }

  deinit { releaseDescriptor() }

  /// Closes the VM descriptor once setup is done. The VM lives on while any of its vCPUs does (each vCPU
  /// holds a kernel reference), so a running VM then costs one descriptor instead of two. VM ioctls fail
  /// with EBADF afterwards.
  public func releaseDescriptor() {
    if fd >= 0 { close(fd) }
    fd = -1
  }

  /// Maps `memory` (its whole region) at guest-physical `guestAddress` in memory slot `slot`. With
  /// `logDirtyPages`, KVM records every page the guest writes (read it with `takeDirtyPages(slot:)`; the
  /// descriptor must stay open). The slot keeps the region's addresses: pages the region maps there later
  /// (`MemoryRegion.mapPrivately`, `discardPages`) are what the guest sees from then on.
  public func mapMemory(
    _ memory: GuestMemory, at guestAddress: UInt64, slot: UInt32 = 0, logDirtyPages: Bool = false
  ) throws(KVMError) {
    try setSlot(slot, memory.region, at: guestAddress, size: memory.size, logDirtyPages: logDirtyPages)
    regions[slot] = (memory.region, guestAddress, logDirtyPages)
  }

  /// Deletes memory slot `slot` and maps its region again as it was: KVM drops everything it built for the slot
  /// (its page-table shadows, its dirty log), as for a new VM. Waits for KVM's readers of the slots (SRCU).
  public func remapMemory(slot: UInt32 = 0) throws(KVMError) {
    guard let mapped = regions[slot] else {
      throw KVMError(operation: "remapping memory slot \(slot) (not mapped)", errno: EINVAL)
    }
    try setSlot(slot, mapped.region, at: mapped.address, size: 0, logDirtyPages: false)
    regions[slot] = nil
    try setSlot(slot, mapped.region, at: mapped.address, size: mapped.region.size, logDirtyPages: mapped.logDirtyPages)
    regions[slot] = mapped
  }

  /// `KVM_SET_USER_MEMORY_REGION` for `slot`: `size` bytes of `region` at `guestAddress` (0 bytes: deleted).
  private func setSlot(
    _ slot: UInt32, _ memory: MemoryRegion, at guestAddress: UInt64, size: UInt64, logDirtyPages: Bool
  ) throws(KVMError) {
    var region = kvm_userspace_memory_region()
    region.slot = slot
    region.flags = logDirtyPages ? CKVM_MEM_LOG_DIRTY_PAGES : 0
    region.guest_phys_addr = guestAddress
    region.memory_size = size
    region.userspace_addr = UInt64(UInt(bitPattern: memory.baseAddress))
    // SAFETY: `region` lives on the stack for the duration of the ioctl, which only reads it.
    guard ckvm_ioctl_pointer(fd, CKVM_SET_USER_MEMORY_REGION, &region) == 0 else {
      throw KVMError.last("KVM_SET_USER_MEMORY_REGION")
    }
  }

  /// Returns the bitmap of pages (bit i of word i/64 = page i) the guest wrote in `slot` since it was mapped
  /// or since the last call, and clears it. The slot must have been mapped with `logDirtyPages`.
  public func takeDirtyPages(slot: UInt32 = 0) throws(KVMError) -> PageBitmap {
    guard let memory = regions[slot]?.region else {
      throw KVMError(operation: "KVM_GET_DIRTY_LOG (no slot \(slot))", errno: EINVAL)
    }
    var bitmap = PageBitmap(pageCount: Int(memory.size / GuestMemory.pageSize))
    let result = bitmap.words.withUnsafeMutableBufferPointer { words in
      // SAFETY: the buffer holds one bit per page of the slot, rounded up to 64-bit words, as KVM writes.
      ckvm_get_dirty_log(fd, slot, words.baseAddress)
    }
    guard result == 0 else { throw KVMError.last("KVM_GET_DIRTY_LOG") }
    return bitmap
  }

  /// Creates vCPU number `id` and maps its `kvm_run` structure.
  public func createVCPU(id: UInt32 = 0) throws(KVMError) -> VCPU {
    let vcpuFD = ckvm_ioctl_value(fd, CKVM_CREATE_VCPU, UInt(id))
    guard vcpuFD >= 0 else { throw KVMError.last("KVM_CREATE_VCPU") }
    do throws(KVMError) {
      return try VCPU(fd: vcpuFD, mmapSize: system.vcpuMmapSize, machine: self)
    } catch {
      close(vcpuFD)
      throw error
    }
  }
}

// VMRecordValidation.swift: the bounds a VM record read back from disk must meet before the engine computes
// with its numbers or allocates by them (a crafted journal must skip a VM, never trap the daemon).

extension VMRecord {
  /// Largest VM id a record may carry: ids are counted up from 1 and never near the top of UInt64, so that
  /// `id + count` never overflows.
  public static let maximumID: UInt64 = 1 << 62
  /// Most restarts a record may count (the engine adds one per restart).
  public static let maximumRestarts = Int(Int32.max)
  /// Longest disk image path a record may carry (the API's limit on paths, with room for resolved links).
  public static let maximumDiskImagePathBytes = 4096
  /// Times (seconds since 1970) a record may carry: finite and within about 3,000 years of 1970.
  static let timeRange: ClosedRange<Double> = -1e11...1e11

  /// Why this record cannot be used, or nil when every field is within its bounds: an id up to `maximumID`,
  /// a memory size and arguments a VM may have (the ABI's limits), a disk size a disk may have, a key the image
  /// store could have made (for the image, and for a disk image with its size and a bounded path), restarts from
  /// 0 to `maximumRestarts`, finite times, an address a VM could have been given (whether it fits the daemon's
  /// network now is the engine's check at restart), and an owner that is a uid.
  public var problem: String? {
    guard id <= Self.maximumID else { return "id \(id) is out of range (0 to \(Self.maximumID))" }
    do {
      try VMConfiguration(memorySize: memorySize, arguments: arguments, id: id).validate()
    } catch {
      return "vm \(id): \(error)"
    }
    if let diskSize, diskSize == 0 || diskSize % DiskFile.blockSize != 0 || diskSize > DiskFile.maximumSize {
      return
        "vm \(id): disk size \(diskSize) is not a multiple of \(DiskFile.blockSize) from \(DiskFile.blockSize) to \(DiskFile.maximumSize)"
    }
    guard ImageStore.isValid(imageKey) else { return "vm \(id): \"\(imageKey.prefix(120))\" is not an image key" }
    if let diskImageKey {
      guard ImageStore.isValid(diskImageKey) else {
        return "vm \(id): \"\(diskImageKey.prefix(120))\" is not a disk image key"
      }
      guard diskSize != nil, diskImagePath.map({ $0.utf8.count <= Self.maximumDiskImagePathBytes }) == true else {
        return "vm \(id): a disk image needs its size and a path of at most \(Self.maximumDiskImagePathBytes) bytes"
      }
    } else if diskImagePath != nil {
      return "vm \(id): a disk image path without its key"
    }
    guard restarts >= 0, restarts <= Self.maximumRestarts else {
      return "vm \(id): restarts \(restarts) is out of range (0 to \(Self.maximumRestarts))"
    }
    for (field, time) in [("createdAt", createdAt), ("endedAt", endedAt)] {
      if let time, !Self.timeRange.contains(time) { return "vm \(id): \(field) \(time) is out of range" }
    }
    guard owner != UInt32.max else { return "vm \(id): owner \(owner) is not a uid ((uid_t)-1 means none)" }
    if let address, !Self.isUnicastHost(address) {
      return "vm \(id): address \(address) is not a unicast host address"
    }
    return nil
  }

  /// Whether `address` could be a VM's on any network: not in 0.0.0.0/8, 127.0.0.0/8, or 224.0.0.0 and above
  /// (multicast, reserved, broadcast).
  static func isUnicastHost(_ address: IPv4Address) -> Bool {
    let first = address.value >> 24
    return first != 0 && first != 127 && first < 224
  }
}

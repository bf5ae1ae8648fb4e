// ControlLimits.swift: the bounds every request is checked against (from the daemon's configuration).

/// Bounds on requests; the daemon fills them from its configuration file and flags.
public struct ControlLimits: Equatable, Sendable {
  /// Largest request body accepted, in bytes.
  public var maximumBodyBytes: Int
  /// Largest guest memory per VM, in bytes.
  public var maximumMemoryPerVM: UInt64
  /// Guest memory when a request gives none, in bytes.
  public var defaultMemoryPerVM: UInt64
  /// Largest scratch disk per VM, in bytes.
  public var maximumDiskPerVM: UInt64
  /// Most VMs one create request may ask for (the engine enforces the daemon-wide maximum).
  public var maximumVMsPerRequest: Int
  /// Most console lines a tail may ask for.
  public var maximumTailLines: Int

  /// Limits; the defaults are those of Config/denalid.conf.
  public init(
    maximumBodyBytes: Int = 64 << 10, maximumMemoryPerVM: UInt64 = 1 << 30, defaultMemoryPerVM: UInt64 = 4 << 20,
    maximumDiskPerVM: UInt64 = 1 << 30, maximumVMsPerRequest: Int = 10_000, maximumTailLines: Int = 10_000
  ) {
    self.maximumBodyBytes = maximumBodyBytes
    self.maximumMemoryPerVM = maximumMemoryPerVM
    self.defaultMemoryPerVM = defaultMemoryPerVM
    self.maximumDiskPerVM = maximumDiskPerVM
    self.maximumVMsPerRequest = maximumVMsPerRequest
    self.maximumTailLines = maximumTailLines
  }

  /// Guest memory granularity and minimum: 2 MiB (the host maps guest memory with 2 MiB pages).
  public static let memoryGranularity: UInt64 = 2 << 20
  /// Disk granularity and minimum: one 4 KiB block.
  public static let diskGranularity: UInt64 = 4096
  /// Room for the guest's arguments in the boot information page, terminators included.
  public static let argumentBytes = 4048
  /// Most arguments per guest.
  public static let maximumArguments = 256
  /// Longest image path in a request, in bytes.
  public static let maximumImagePathBytes = 1024
  /// Largest image file, in bytes (the loader's own limit).
  public static let maximumImageBytes = 64 << 20
}

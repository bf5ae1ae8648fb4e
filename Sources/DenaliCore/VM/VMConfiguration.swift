// VMConfiguration.swift: what a VM is created with, and the checks on it.
import DenaliABI

/// The settings of one VM.
public struct VMConfiguration: Sendable {
  /// Default guest memory: 4 MiB.
  public static let defaultMemorySize: UInt64 = 4 << 20
  /// Free memory a guest needs above its image (stack and heap).
  public static let minimumFreeMemory: UInt64 = 64 << 10

  /// Bytes of guest memory.
  public var memorySize: UInt64
  /// The guest's arguments.
  public var arguments: [String]
  /// Stop the guest after this long; nil for no limit.
  public var timeout: Duration?
  /// The VM's identifier, shown to the guest in its virtual registers.
  public var id: UInt64
  /// The virtual disk's backing file; nil for no disk.
  public var disk: DiskFile?
  /// The VM's port on the virtual switch; nil for no NIC.
  public var network: NetworkPort?

  /// A configuration; check it with `validate()`.
  public init(
    memorySize: UInt64 = defaultMemorySize, arguments: [String] = [], timeout: Duration? = nil, id: UInt64 = 1,
    disk: DiskFile? = nil, network: NetworkPort? = nil
  ) {
    self.memorySize = memorySize
    self.arguments = arguments
    self.timeout = timeout
    self.id = id
    self.disk = disk
    self.network = network
  }

  /// Checks the memory size, timeout and arguments against the ABI's limits.
  public func validate() throws(VMSetupError) {
    guard memorySize >= DENALI_MEMORY_MIN, memorySize <= DENALI_MEMORY_MAX, memorySize % DENALI_MEMORY_ALIGN == 0 else {
      throw .invalidMemorySize(memorySize)
    }
    if let timeout, timeout <= .zero { throw .invalidTimeout(timeout) }
    let boot = BootInfo(memorySize: memorySize, imageEnd: 0, arguments: arguments)
    guard boot.argumentsFit else {
      throw .argumentsTooLong(bytes: boot.argumentBytes, limit: Int(DENALI_BOOT_ARGS_MAX))
    }
  }
}

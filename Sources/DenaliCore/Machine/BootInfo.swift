// BootInfo.swift: the boot information page (memory size, image end, arguments, random seed) the guest reads at start.
import DenaliABI
import KVM

/// The boot information a guest finds at `DENALI_GPA_BOOT_INFO`.
public struct BootInfo: Sendable {
  /// Bytes of guest memory.
  public var memorySize: UInt64
  /// First page-aligned address past the loaded image.
  public var imageEnd: UInt64
  /// The guest's arguments.
  public var arguments: [String]
  /// A per-VM secret for the guest (`random_seed`): fresh from the system's random source unless given.
  public var randomSeed: UInt64

  /// Describes the boot information for one guest.
  public init(
    memorySize: UInt64, imageEnd: UInt64, arguments: [String], randomSeed: UInt64 = .random(in: .min ... .max)
  ) {
    self.memorySize = memorySize
    self.imageEnd = imageEnd
    self.arguments = arguments
    self.randomSeed = randomSeed
  }

  /// Bytes the argument vector and strings need in the boot page.
  public var argumentBytes: Int {
    (arguments.count + 1) * 8 + arguments.reduce(0) { $0 + $1.utf8.count + 1 }
  }

  /// True when the arguments fit in the boot page and contain no NUL byte.
  public var argumentsFit: Bool {
    argumentBytes <= Int(DENALI_BOOT_ARGS_MAX) && !arguments.contains { $0.utf8.contains(0) }
  }

  /// Writes the header, argv pointers and strings; the caller checks `argumentsFit` first.
  func write(to memory: GuestMemory) throws(GuestMemoryError) {
    let header = UInt64(MemoryLayout<denali_boot_info>.size)
    let argv = DENALI_GPA_BOOT_INFO + header
    var info = denali_boot_info()
    info.magic = DENALI_BOOT_MAGIC
    info.abi_version = DENALI_ABI_VERSION
    info.memory_size = memorySize
    info.image_end = imageEnd
    info.argc = UInt32(arguments.count)
    info.argv = argv
    info.random_seed = randomSeed
    try memory.store(info, at: DENALI_GPA_BOOT_INFO)
    var string = argv + UInt64(arguments.count + 1) * 8
    for (index, argument) in arguments.enumerated() {
      try memory.write(string, at: argv + UInt64(index) * 8)
      let bytes = Array(argument.utf8) + [0]
      try memory.write(bytes, at: string)
      string += UInt64(bytes.count)
    }
    try memory.write(UInt64(0), at: argv + UInt64(arguments.count) * 8)
  }
}

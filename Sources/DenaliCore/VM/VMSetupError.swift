// VMSetupError.swift: why a VM could not be created.
import DenaliABI
import KVM

/// Why a VM could not be created; `description` is a one-line message.
public enum VMSetupError: Error, Equatable, CustomStringConvertible {
  /// The memory size is outside the ABI's bounds or not 2 MiB aligned.
  case invalidMemorySize(UInt64)
  /// A timeout of zero or less.
  case invalidTimeout(Duration)
  /// The arguments do not fit in the boot information page (or contain NUL).
  case argumentsTooLong(bytes: Int, limit: Int)
  /// The image leaves too little memory for the guest's stack and heap.
  case memoryTooSmall(imageEnd: UInt64, memorySize: UInt64)
  /// The host refused a KVM or memory operation.
  case kvm(KVMError)
  /// The image or the machine layout did not fit in the fresh memory they were checked against (a host bug).
  case layout(GuestMemoryError)
  /// The swap file is not a recovered image of this VM (its id, memory size or committed image differ).
  case notRestorable(path: String)
  /// The VM's swap image could not be read back.
  case swapImage(SwapError)

  /// True for errors caused by the request rather than the host.
  public var isUsageError: Bool {
    switch self {
    case .invalidMemorySize, .invalidTimeout, .argumentsTooLong, .memoryTooSmall: true
    case .kvm, .layout, .notRestorable, .swapImage: false
    }
  }

  /// A one-line message.
  public var description: String {
    switch self {
    case .invalidMemorySize(let size):
      "memory size \(ByteSize(bytes: size)) is invalid: it must be a multiple of 2 MiB between \(DENALI_MEMORY_MIN >> 20) MiB and \(DENALI_MEMORY_MAX >> 20) MiB"
    case .invalidTimeout(let timeout): "timeout \(timeout) is invalid: it must be positive"
    case .argumentsTooLong(let bytes, let limit):
      "guest arguments need \(bytes) bytes (with their pointers) but the boot page holds \(limit), or contain a NUL byte"
    case .memoryTooSmall(let imageEnd, let memorySize):
      "image ends at \(hex(imageEnd)), leaving less than \(VMConfiguration.minimumFreeMemory >> 10) KiB of the guest's \(memorySize >> 20) MiB for stack and heap"
    case .kvm(let error): "host error: \(error)"
    case .layout(let error): "host error: the image and machine layout do not fit in fresh memory: \(error)"
    case .notRestorable(let path): "host error: \(path) is not a recovered swap image of this VM"
    case .swapImage(let error): "host error: \(error)"
    }
  }
}

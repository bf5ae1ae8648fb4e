// GuestImage+Memory.swift: copies a validated image's segments into guest memory.
import KVM

extension GuestImage {
  /// Copies every segment's file bytes to its address. `memory` must be freshly mapped (all zero),
  /// so the rest of each segment (its bss) is already zero and is not touched.
  func load(intoFresh memory: GuestMemory) throws(GuestMemoryError) {
    for segment in segments {
      try memory.write(bytes[segment.fileRange], at: segment.guestAddress)
    }
  }
}

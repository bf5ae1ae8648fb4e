// Memory.swift: the guest's view of its memory, from the boot information.

/// Bytes of guest-physical memory; addresses 0..<memorySize exist (page 0 is unmapped).
public var memorySize: Int {
  // SAFETY: ilwaco_start stored a checked boot info pointer before any Swift code runs.
  Int(ilwaco_boot_info().pointee.memory_size)
}

/// First address past the loaded image: the heap starts here.
public var imageEnd: Int {
  // SAFETY: as for memorySize.
  Int(ilwaco_boot_info().pointee.image_end)
}

/// Bytes currently free in the heap.
public var heapFreeBytes: Int { Int(ilwaco_heap_free_bytes()) }

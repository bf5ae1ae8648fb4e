// MemoryTemplate.swift: the pages every VM of one image starts with (page tables, GDT, IDT, trap stubs, the
// image's file bytes), written once into a sealed memfd that each VM maps privately: a page no VM writes is one
// page for all of them, and a VM that writes a page gets its own copy.
import Glibc
import KVM

/// One image laid out for one memory size, in a sealed memory file.
///
/// The file holds guest-physical `[0, length)` as a fresh VM of that image starts: the host-built layout and
/// the image's segments, zero elsewhere (holes). It holds nothing of any one VM: the boot information (with its
/// per-VM random seed) and the virtual-registers page are written into each VM's own copy. Sealed against
/// writes, shrinking and growing, so no mapping can change what later VMs start from.
final class MemoryTemplate: @unchecked Sendable {
  /// The memory file (sealed).
  let file: MemoryFile
  /// Distinguishes templates (never reused in a process), for `MemoryRegion.Backing`.
  let id: UInt64

  private init(file: MemoryFile, id: UInt64) {
    self.file = file
    self.id = id
  }

  /// The file and its id, as a memory region maps them.
  var mapping: (file: MemoryFile, id: UInt64) { (file, id) }

  /// The template of `image` for `memorySize` bytes: built on first use, then kept in a cache of
  /// `cacheCapacity` templates (the least recently used goes first).
  static func template(for image: GuestImage, memorySize: UInt64) throws(MemoryTemplateError) -> MemoryTemplate {
    let key = Key(image: image, memorySize: memorySize)
    let (cached, id) = cache.withLock { cache -> (MemoryTemplate?, UInt64) in
      cache.clock &+= 1
      if let index = cache.entries.firstIndex(where: { $0.key == key }) {
        cache.entries[index].used = cache.clock
        // The same bytes in the caller's own array: keep that one, so the next VMs of the same request (which
        // share it) compare equal by identity instead of byte by byte.
        cache.entries[index].key = key
        return (cache.entries[index].template, 0)
      }
      cache.nextID &+= 1
      return (nil, cache.nextID)
    }
    if let cached { return cached }
    let template = try build(image: image, memorySize: memorySize, id: id)
    return cache.withLock { cache in
      // Another thread may have built the same one meanwhile: keep one.
      if let index = cache.entries.firstIndex(where: { $0.key == key }) { return cache.entries[index].template }
      if cache.entries.count >= cacheCapacity,
        let oldest = cache.entries.indices.min(by: { cache.entries[$0].used < cache.entries[$1].used })
      {
        cache.entries.remove(at: oldest)
      }
      cache.entries.append((key, template, cache.clock))
      return template
    }
  }

  /// Templates kept at once (each holds its image's pages and the layout, shared by all its VMs).
  static let cacheCapacity = 16
  /// The first guest-physical address past the host-built layout (page tables, GDT, IDT, trap stubs): a
  /// template covers at least this much.
  static let layoutEnd: UInt64 = 0x8000
  /// Up to this guest memory size a template covers all of it, so a VM's memory is one mapping (and, with its
  /// `kvm_run`, two per VM; every mapping costs each later KVM VM's creation a little, as KVM's memory notifier
  /// registration locks them all). Pages no VM has touched are holes, which the kernel fills with one zero page
  /// each in the template the first time any VM reads or writes there: at most this much per template. Larger
  /// guests get a template up to their image's end, and anonymous memory after it (a second mapping).
  static let wholeMemoryLimit: UInt64 = 16 << 20

  /// What a template is for: the image's bytes (compared in full when the hashes agree) and the memory size.
  struct Key: Equatable {
    let hash: UInt64
    let bytes: [UInt8]
    let memorySize: UInt64

    init(image: GuestImage, memorySize: UInt64) {
      hash = image.contentHash
      bytes = image.bytes
      self.memorySize = memorySize
    }

    static func == (left: Key, right: Key) -> Bool {
      left.hash == right.hash && left.memorySize == right.memorySize && left.bytes == right.bytes
    }
  }

  /// The process's templates.
  private static let cache = Locked(Cache())

  /// The cache's state.
  private struct Cache {
    var entries: [(key: Key, template: MemoryTemplate, used: UInt64)] = []
    var clock: UInt64 = 0
    var nextID: UInt64 = 0
  }

  /// Writes the layout and the image into scratch memory, copies its non-zero pages into a new memory file and
  /// seals it.
  private static func build(image: GuestImage, memorySize: UInt64, id: UInt64) throws(MemoryTemplateError)
    -> MemoryTemplate
  {
    let length = memorySize <= wholeMemoryLimit ? memorySize : max(image.fileBytesEnd, layoutEnd)
    guard length <= memorySize else { throw .doesNotFit(length: length, memorySize: memorySize) }
    let scratch: GuestMemory
    do { scratch = try GuestMemory(size: length) } catch { throw .kvm(error) }
    do throws(GuestMemoryError) {
      try MachineLayout.install(in: scratch, memorySize: memorySize)
      try image.load(intoFresh: scratch)
    } catch {
      throw .layout(error)
    }
    do throws(KVMError) {
      let file = try MemoryFile(name: "denali-template", length: length)
      let page = Int(GuestMemory.pageSize)
      try scratch.withAllBytes { (all) throws(KVMError) in
        for offset in stride(from: 0, to: all.count, by: page) {
          let bytes = UnsafeRawBufferPointer(rebasing: all[offset..<offset + page])
          if !bytes.allSatisfy({ $0 == 0 }) { try file.write(bytes, at: UInt64(offset)) }  // zero pages stay holes
        }
      }
      try file.seal()
      return MemoryTemplate(file: file, id: id)
    } catch {
      throw .kvm(error)
    }
  }
}

/// Why a memory template could not be made (the VM is then set up in anonymous memory instead).
enum MemoryTemplateError: Error, CustomStringConvertible {
  /// The image's pages do not fit the guest's memory.
  case doesNotFit(length: UInt64, memorySize: UInt64)
  /// Writing the layout or the image failed (a host bug: both were validated).
  case layout(GuestMemoryError)
  /// Making the memory file failed.
  case kvm(KVMError)

  /// A one-line message.
  var description: String {
    switch self {
    case .doesNotFit(let length, let memorySize): "the template (\(length) bytes) does not fit \(memorySize) bytes"
    case .layout(let error): "laying out the template failed: \(error)"
    case .kvm(let error): "\(error)"
    }
  }
}

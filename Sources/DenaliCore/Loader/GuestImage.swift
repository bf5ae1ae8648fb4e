// GuestImage.swift: reads and validates a guest image, a static x86-64 ELF executable.
//
// The parser works on a byte array with explicit little-endian decoding and overflow-checked
// arithmetic, so a hostile file can make it throw but never trap or read out of bounds.
//
// Policy (what is accepted):
// - ELFCLASS64, ELFDATA2LSB, EI_VERSION 1, ET_EXEC, EM_X86_64, e_phentsize 56, 1...64 headers.
//   EI_OSABI, e_version, e_flags and the section headers are not looked at: nothing uses them.
// - PT_INTERP or PT_DYNAMIC anywhere means the image is not static: refused.
// - Every other non-PT_LOAD header (PT_NOTE, PT_PHDR, PT_TLS, PT_GNU_STACK, PT_GNU_RELRO,
//   PT_GNU_PROPERTY, ...) is ignored: it describes memory that a PT_LOAD already covers, or is
//   advice for a dynamic loader or kernel that Denali does not need. In particular PT_PHDR is
//   ignored, not checked against the loaded segments, because no guest code depends on it.
// - Each PT_LOAD must have p_vaddr == p_paddr (guest memory is identity-mapped),
//   p_filesz <= p_memsz, its file bytes inside the file, and, if p_memsz > 0, its memory
//   [p_paddr, p_paddr + p_memsz) inside [DENALI_GPA_IMAGE_BASE, memorySize) without overlapping
//   another PT_LOAD. p_align is ignored: segments are copied byte for byte, not mapped.
// - A PT_LOAD with p_memsz == 0 loads nothing: after the checks above it is left out of
//   `segments`, its address is not checked, and it does not count as a loadable segment.
// - The entry point must lie inside [p_paddr, p_paddr + p_memsz) of a PT_LOAD with PF_X.

import DenaliABI
import Foundation
import SystemCalls

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A validated static x86-64 ELF executable, ready to copy into guest memory.
public struct GuestImage: Sendable {
  /// One loadable segment.
  public struct Segment: Sendable, Equatable {
    /// Guest-physical (and, identity-mapped, virtual) address of the segment's first byte: p_paddr.
    public let guestAddress: UInt64
    /// Bytes of the file to copy to `guestAddress`: p_offset ..< p_offset + p_filesz.
    public let fileRange: Range<Int>
    /// Bytes the segment occupies in guest memory (p_memsz); those past the file bytes are zero.
    public let memorySize: UInt64
    /// Whether the segment is executable (PF_X).
    public let isExecutable: Bool
    /// Whether the segment is writable (PF_W).
    public let isWritable: Bool

    /// Creates a segment description; `GuestImage` only builds validated ones.
    public init(
      guestAddress: UInt64, fileRange: Range<Int>, memorySize: UInt64, isExecutable: Bool,
      isWritable: Bool
    ) {
      self.guestAddress = guestAddress
      self.fileRange = fileRange
      self.memorySize = memorySize
      self.isExecutable = isExecutable
      self.isWritable = isWritable
    }
  }

  /// The whole file.
  public let bytes: [UInt8]
  /// Guest address of the first instruction (e_entry).
  public let entry: UInt64
  /// The non-empty PT_LOAD segments, in program header order.
  public let segments: [Segment]
  /// The highest segment end rounded up to 4 KiB: the first address the image does not use.
  public let end: UInt64
  /// A 64-bit hash of `bytes`, to find images with the same content quickly (not collision-resistant: equal
  /// hashes are confirmed by comparing the bytes).
  public let contentHash: UInt64

  /// Largest file `init(contentsOf:memorySize:)` will read: 64 MiB.
  public static let maximumFileSize: Int = 64 << 20

  /// Parses and validates `bytes` as an image for a guest with `memorySize` bytes of memory.
  public init(bytes: [UInt8], memorySize: UInt64) throws(GuestImageError) {
    let parsed = try ELFParser(bytes: bytes, memorySize: memorySize).parse()
    self.bytes = bytes
    self.entry = parsed.entry
    self.segments = parsed.segments
    self.end = parsed.end
    self.contentHash = Self.hash(bytes)
  }

  /// The end of the highest segment's file bytes rounded up to 4 KiB: past it the image writes nothing.
  public var fileBytesEnd: UInt64 {
    let last = segments.map { $0.guestAddress + UInt64($0.fileRange.count) }.max() ?? 0
    return (last + 4095) / 4096 * 4096
  }

  /// FNV-1a over 64-bit little-endian words (and the last bytes one by one), seeded with the length.
  static func hash(_ bytes: [UInt8]) -> UInt64 {
    let prime: UInt64 = 0x0000_0100_0000_01B3
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(bytes.count)
    bytes.withUnsafeBytes { buffer in
      let words = buffer.count / 8
      for index in 0..<words {
        // SAFETY: index * 8 + 8 <= buffer.count; unaligned loads are allowed.
        hash = (hash ^ UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))) &* prime
      }
      for index in (words * 8)..<buffer.count { hash = (hash ^ UInt64(buffer[index])) &* prime }
    }
    return hash
  }

  /// Reads the file at `path` (a regular file of at most `maximumFileSize` bytes) and validates it.
  public init(contentsOf path: String, memorySize: UInt64) throws(GuestImageError) {
    let bytes = try readImageFile(path: path, limit: GuestImage.maximumFileSize)
    try self.init(bytes: bytes, memorySize: memorySize)
  }
}

/// Why a file is not a valid guest image; `description` is a one-line human message.
public enum GuestImageError: Error, Equatable, CustomStringConvertible {
  /// The file could not be opened, examined or read; `errno` is the failing call's error number.
  case unreadable(path: String, errno: Int32)
  /// The path names a directory, device, FIFO, socket or other non-regular file.
  case notARegularFile(path: String)
  /// The file is larger than `GuestImage.maximumFileSize`; `size` is its size in bytes.
  case fileTooLarge(path: String, size: UInt64)
  /// The image has no bytes at all.
  case empty
  /// The image is shorter than the 64-byte ELF header; `size` is its length.
  case truncatedHeader(size: Int)
  /// The first four bytes are not 0x7F 'E' 'L' 'F'.
  case badMagic
  /// EI_CLASS is not ELFCLASS64 (2).
  case notELF64(elfClass: UInt8)
  /// EI_DATA is not ELFDATA2LSB (1).
  case notLittleEndian(encoding: UInt8)
  /// EI_VERSION is not EV_CURRENT (1).
  case badIdentVersion(UInt8)
  /// e_type is ET_DYN (3) or ET_REL (1): position-independent or relocatable code is not supported.
  case dynamicOrRelocatable(type: UInt16)
  /// e_type is something other than ET_EXEC (2), ET_DYN or ET_REL.
  case notExecutable(type: UInt16)
  /// e_machine is not EM_X86_64 (62).
  case wrongMachine(UInt16)
  /// e_phentsize is not 56, the size of an Elf64_Phdr.
  case badProgramHeaderSize(UInt16)
  /// e_phnum is 0 or more than 64.
  case badProgramHeaderCount(UInt16)
  /// e_phoff + e_phnum * 56 does not fit in 64 bits.
  case programHeaderTableOverflow(offset: UInt64, count: UInt16)
  /// The program header table extends past the end of the file.
  case programHeadersTruncated(offset: UInt64, count: UInt16, fileSize: Int)
  /// There is a PT_INTERP (3) or PT_DYNAMIC (2) header: the image is dynamically linked.
  case notStatic(header: Int, type: UInt32)
  /// A PT_LOAD has p_vaddr != p_paddr; guest memory is identity-mapped so they must agree.
  case addressMismatch(header: Int, virtualAddress: UInt64, physicalAddress: UInt64)
  /// A PT_LOAD has p_filesz > p_memsz.
  case fileSizeExceedsMemorySize(header: Int, fileSize: UInt64, memorySize: UInt64)
  /// A PT_LOAD's p_offset + p_filesz does not fit in 64 bits.
  case segmentFileRangeOverflow(header: Int, offset: UInt64, fileSize: UInt64)
  /// A PT_LOAD's file bytes extend past the end of the file.
  case segmentTruncated(header: Int, offset: UInt64, fileSize: UInt64, imageSize: Int)
  /// A PT_LOAD's p_paddr + p_memsz (or that end rounded up to 4 KiB) does not fit in 64 bits.
  case segmentAddressOverflow(header: Int, address: UInt64, memorySize: UInt64)
  /// A PT_LOAD starts below DENALI_GPA_IMAGE_BASE, where the host keeps its own structures.
  case segmentBelowImageBase(header: Int, address: UInt64)
  /// A PT_LOAD ends past the guest's memory.
  case segmentBeyondMemory(header: Int, end: UInt64, guestMemorySize: UInt64)
  /// Two PT_LOAD segments (by header index, `first` < `second`) share guest memory.
  case segmentsOverlap(first: Int, second: Int)
  /// No PT_LOAD occupies any memory.
  case noLoadableSegment
  /// The entry point is not inside any executable PT_LOAD segment.
  case entryNotExecutable(entry: UInt64)

  /// A one-line human-readable explanation.
  public var description: String {
    switch self {
    case .unreadable(let path, let code):
      return "\(path): cannot read: \(SystemCallError.text(for: code))"
    case .notARegularFile(let path):
      return "\(path): not a regular file"
    case .fileTooLarge(let path, let size):
      return
        "\(path): file is \(size) bytes, more than the \(GuestImage.maximumFileSize >> 20) MiB limit"
    case .empty:
      return "image is empty"
    case .truncatedHeader(let size):
      return "image is truncated: \(size) bytes is shorter than the 64-byte ELF header"
    case .badMagic:
      return "not an ELF file (bad magic number)"
    case .notELF64(let elfClass):
      return "not a 64-bit ELF file (EI_CLASS is \(elfClass), expected 2)"
    case .notLittleEndian(let encoding):
      return "not a little-endian ELF file (EI_DATA is \(encoding), expected 1)"
    case .badIdentVersion(let version):
      return "unsupported ELF version (EI_VERSION is \(version), expected 1)"
    case .dynamicOrRelocatable(let type):
      let kind = type == 3 ? "ET_DYN" : "ET_REL"
      return
        "image type is \(kind): dynamic/relocatable images are not supported; link a static, non-PIE executable (ET_EXEC)"
    case .notExecutable(let type):
      return "not an executable (e_type is \(type), expected ET_EXEC = 2)"
    case .wrongMachine(let machine):
      return "not an x86-64 image (e_machine is \(machine), expected EM_X86_64 = 62)"
    case .badProgramHeaderSize(let size):
      return "bad program header entry size \(size) (e_phentsize must be 56)"
    case .badProgramHeaderCount(let count):
      return "bad program header count \(count) (e_phnum must be 1 to 64)"
    case .programHeaderTableOverflow(let offset, let count):
      return "program header table at offset \(hex(offset)) with \(count) entries overflows"
    case .programHeadersTruncated(let offset, let count, let fileSize):
      return
        "image is truncated: \(count) program headers at offset \(hex(offset)) extend past the end of the \(fileSize)-byte file"
    case .notStatic(let header, let type):
      let kind = type == 3 ? "PT_INTERP" : "PT_DYNAMIC"
      return
        "program header \(header) is \(kind): dynamically linked images are not supported; link statically"
    case .addressMismatch(let header, let virtualAddress, let physicalAddress):
      return
        "program header \(header): p_vaddr \(hex(virtualAddress)) differs from p_paddr \(hex(physicalAddress)) (guest memory is identity-mapped)"
    case .fileSizeExceedsMemorySize(let header, let fileSize, let memorySize):
      return
        "program header \(header): p_filesz \(hex(fileSize)) is larger than p_memsz \(hex(memorySize))"
    case .segmentFileRangeOverflow(let header, let offset, let fileSize):
      return
        "program header \(header): p_offset \(hex(offset)) + p_filesz \(hex(fileSize)) overflows"
    case .segmentTruncated(let header, let offset, let fileSize, let imageSize):
      return
        "image is truncated: program header \(header)'s bytes \(hex(offset)) + \(hex(fileSize)) extend past the end of the \(imageSize)-byte file"
    case .segmentAddressOverflow(let header, let address, let memorySize):
      return
        "program header \(header): address \(hex(address)) + p_memsz \(hex(memorySize)) overflows"
    case .segmentBelowImageBase(let header, let address):
      return
        "program header \(header): segment at \(hex(address)) is below the image base \(hex(imageBase))"
    case .segmentBeyondMemory(let header, let end, let guestMemorySize):
      return
        "program header \(header): segment ends at \(hex(end)), beyond the guest's \(hex(guestMemorySize)) bytes of memory"
    case .segmentsOverlap(let first, let second):
      return "program headers \(first) and \(second): loadable segments overlap"
    case .noLoadableSegment:
      return "image has no loadable (non-empty PT_LOAD) segment"
    case .entryNotExecutable(let entry):
      return "entry point \(hex(entry)) is not inside an executable loadable segment"
    }
  }
}

// MARK: - Constants

/// Lowest guest-physical address a segment may occupy (DENALI_GPA_IMAGE_BASE from denali/abi.h).
private let imageBase: UInt64 = DENALI_GPA_IMAGE_BASE
/// Guest page size used to round `GuestImage.end`.
private let pageSize: UInt64 = 0x1000

private let elfHeaderSize = 64
private let programHeaderSize = 56
private let maximumProgramHeaders: UInt16 = 64

private let elfClass64: UInt8 = 2  // ELFCLASS64
private let elfDataLittleEndian: UInt8 = 1  // ELFDATA2LSB
private let elfVersionCurrent: UInt8 = 1  // EV_CURRENT
private let elfTypeRelocatable: UInt16 = 1  // ET_REL
private let elfTypeExecutable: UInt16 = 2  // ET_EXEC
private let elfTypeShared: UInt16 = 3  // ET_DYN
private let elfMachineAMD64: UInt16 = 62  // EM_X86_64

private let segmentTypeLoad: UInt32 = 1  // PT_LOAD
private let segmentTypeDynamic: UInt32 = 2  // PT_DYNAMIC
private let segmentTypeInterpreter: UInt32 = 3  // PT_INTERP

private let segmentFlagExecute: UInt32 = 1  // PF_X
private let segmentFlagWrite: UInt32 = 2  // PF_W

// MARK: - Parsing

/// The ELF64 parser proper: every read is bounds-checked by the caller's prior length checks.
private struct ELFParser {
  let bytes: [UInt8]
  let memorySize: UInt64

  /// One PT_LOAD that will be placed, with its program header index.
  struct Placed {
    let header: Int
    let segment: GuestImage.Segment
    let end: UInt64
  }

  func parse() throws(GuestImageError) -> (
    entry: UInt64, segments: [GuestImage.Segment], end: UInt64
  ) {
    if bytes.isEmpty { throw .empty }
    if bytes.count < elfHeaderSize { throw .truncatedHeader(size: bytes.count) }

    // e_ident
    guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
      throw .badMagic
    }
    guard bytes[4] == elfClass64 else { throw .notELF64(elfClass: bytes[4]) }
    guard bytes[5] == elfDataLittleEndian else { throw .notLittleEndian(encoding: bytes[5]) }
    guard bytes[6] == elfVersionCurrent else { throw .badIdentVersion(bytes[6]) }

    // The rest of the ELF header; all offsets are < 64 and the file has at least 64 bytes.
    let type = u16(16)
    switch type {
    case elfTypeExecutable: break
    case elfTypeShared, elfTypeRelocatable: throw .dynamicOrRelocatable(type: type)
    default: throw .notExecutable(type: type)
    }
    let machine = u16(18)
    guard machine == elfMachineAMD64 else { throw .wrongMachine(machine) }
    let entry = u64(24)
    let tableOffset = u64(32)
    let entrySize = u16(54)
    guard Int(entrySize) == programHeaderSize else { throw .badProgramHeaderSize(entrySize) }
    let count = u16(56)
    guard count >= 1, count <= maximumProgramHeaders else { throw .badProgramHeaderCount(count) }

    // The program header table must lie inside the file.
    let tableSize = UInt64(count) * UInt64(programHeaderSize)  // <= 64 * 56: cannot overflow
    let (tableEnd, tableOverflow) = tableOffset.addingReportingOverflow(tableSize)
    guard !tableOverflow else {
      throw .programHeaderTableOverflow(offset: tableOffset, count: count)
    }
    guard tableEnd <= UInt64(bytes.count), let tableStart = Int(exactly: tableOffset) else {
      throw .programHeadersTruncated(offset: tableOffset, count: count, fileSize: bytes.count)
    }
    let headers = (0..<Int(count)).map {
      ProgramHeader(bytes, at: tableStart + $0 * programHeaderSize)
    }

    // Dynamic linking is the most basic mismatch, so it is reported before any segment error.
    for (index, header) in headers.enumerated()
    where header.type == segmentTypeInterpreter || header.type == segmentTypeDynamic {
      throw .notStatic(header: index, type: header.type)
    }

    var placed: [Placed] = []
    for (index, header) in headers.enumerated() where header.type == segmentTypeLoad {
      if let segment = try validateLoad(header, index: index) { placed.append(segment) }
    }
    guard !placed.isEmpty else { throw .noLoadableSegment }

    // Overlap: sort by address, then each segment must end at or before the next one starts.
    let byAddress = placed.sorted { $0.segment.guestAddress < $1.segment.guestAddress }
    for (lower, upper) in zip(byAddress, byAddress.dropFirst())
    where lower.end > upper.segment.guestAddress {
      throw .segmentsOverlap(
        first: min(lower.header, upper.header), second: max(lower.header, upper.header))
    }

    let entryIsExecutable = placed.contains { item in
      item.segment.isExecutable && entry >= item.segment.guestAddress && entry < item.end
    }
    guard entryIsExecutable else { throw .entryNotExecutable(entry: entry) }

    // Round the highest end up to a page; checked per segment in validateLoad, so no overflow.
    var highest: UInt64 = 0
    for item in placed { highest = max(highest, item.end) }
    let (roundedEnd, _) = roundUpToPage(highest)
    return (entry, placed.map(\.segment), roundedEnd)
  }

  /// Checks one PT_LOAD; returns nil for one that occupies no memory.
  func validateLoad(_ header: ProgramHeader, index: Int) throws(GuestImageError) -> Placed? {
    guard header.virtualAddress == header.physicalAddress else {
      throw .addressMismatch(
        header: index, virtualAddress: header.virtualAddress,
        physicalAddress: header.physicalAddress)
    }
    guard header.fileSize <= header.memorySize else {
      throw .fileSizeExceedsMemorySize(
        header: index, fileSize: header.fileSize, memorySize: header.memorySize)
    }
    let (fileEnd, fileOverflow) = header.offset.addingReportingOverflow(header.fileSize)
    guard !fileOverflow else {
      throw .segmentFileRangeOverflow(
        header: index, offset: header.offset, fileSize: header.fileSize)
    }
    guard fileEnd <= UInt64(bytes.count), let start = Int(exactly: header.offset),
      let stop = Int(exactly: fileEnd)
    else {
      throw .segmentTruncated(
        header: index, offset: header.offset, fileSize: header.fileSize, imageSize: bytes.count)
    }
    if header.memorySize == 0 { return nil }

    let address = header.physicalAddress
    let (end, addressOverflow) = address.addingReportingOverflow(header.memorySize)
    // The end must also survive rounding up to a page, so `GuestImage.end` cannot overflow.
    guard !addressOverflow, !roundUpToPage(end).overflow else {
      throw .segmentAddressOverflow(header: index, address: address, memorySize: header.memorySize)
    }
    guard address >= imageBase else {
      throw .segmentBelowImageBase(header: index, address: address)
    }
    guard end <= memorySize else {
      throw .segmentBeyondMemory(header: index, end: end, guestMemorySize: memorySize)
    }
    let segment = GuestImage.Segment(
      guestAddress: address, fileRange: start..<stop, memorySize: header.memorySize,
      isExecutable: header.flags & segmentFlagExecute != 0,
      isWritable: header.flags & segmentFlagWrite != 0)
    return Placed(header: index, segment: segment, end: end)
  }

  /// Little-endian UInt16 at `offset`; the caller guarantees `offset + 2 <= bytes.count`.
  func u16(_ offset: Int) -> UInt16 { readLittleEndian(bytes, offset, as: UInt16.self) }
  /// Little-endian UInt64 at `offset`; the caller guarantees `offset + 8 <= bytes.count`.
  func u64(_ offset: Int) -> UInt64 { readLittleEndian(bytes, offset, as: UInt64.self) }
}

/// The fields of one Elf64_Phdr that the loader uses.
private struct ProgramHeader {
  let type: UInt32
  let flags: UInt32
  let offset: UInt64
  let virtualAddress: UInt64
  let physicalAddress: UInt64
  let fileSize: UInt64
  let memorySize: UInt64

  /// Decodes the header at `base`; the caller guarantees `base + 56 <= bytes.count`.
  init(_ bytes: [UInt8], at base: Int) {
    type = readLittleEndian(bytes, base, as: UInt32.self)
    flags = readLittleEndian(bytes, base + 4, as: UInt32.self)
    offset = readLittleEndian(bytes, base + 8, as: UInt64.self)
    virtualAddress = readLittleEndian(bytes, base + 16, as: UInt64.self)
    physicalAddress = readLittleEndian(bytes, base + 24, as: UInt64.self)
    fileSize = readLittleEndian(bytes, base + 32, as: UInt64.self)
    memorySize = readLittleEndian(bytes, base + 40, as: UInt64.self)
    // p_align (base + 48) is not needed: segments are copied, not mapped.
  }
}

/// Decodes a little-endian integer from `bytes[offset...]` with ordinary bounds-checked indexing.
private func readLittleEndian<T: FixedWidthInteger & UnsignedInteger>(
  _ bytes: [UInt8], _ offset: Int, as: T.Type
) -> T {
  var value: T = 0
  for index in 0..<(T.bitWidth / 8) {
    value |= T(bytes[offset + index]) << (index * 8)
  }
  return value
}

/// `value` rounded up to a multiple of the page size, and whether that overflowed.
private func roundUpToPage(_ value: UInt64) -> (partialValue: UInt64, overflow: Bool) {
  let (sum, overflow) = value.addingReportingOverflow(pageSize - 1)
  return (sum & ~(pageSize - 1), overflow)
}

// MARK: - File reading

/// Reads a regular file of at most `limit` bytes, without blocking on FIFOs or devices.
private func readImageFile(path: String, limit: Int) throws(GuestImageError) -> [UInt8] {
  // O_NONBLOCK so that opening a FIFO does not wait for a writer; it has no effect on the
  // reads of a regular file, the only kind read below.
  let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
  guard fd >= 0 else { throw .unreadable(path: path, errno: errno) }
  defer { close(fd) }

  var status = stat()
  guard fstat(fd, &status) == 0 else { throw .unreadable(path: path, errno: errno) }
  guard (status.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path) }
  let statSize = UInt64(clamping: status.st_size)
  guard statSize <= UInt64(limit) else { throw .fileTooLarge(path: path, size: statSize) }

  // Read to end of file rather than trusting st_size, but never more than limit + 1 bytes, so
  // a file that grows while being read is still refused instead of exhausting memory.
  var result: [UInt8] = []
  result.reserveCapacity(Int(statSize))
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  while result.count <= limit {
    let wanted = min(chunk.count, limit + 1 - result.count)
    // SAFETY: `chunk` holds chunk.count >= wanted bytes, and read(2) writes at most `wanted`
    // of them; the array is not otherwise accessed during the call.
    let got = read(fd, &chunk, wanted)
    if got < 0 {
      if errno == EINTR { continue }
      throw .unreadable(path: path, errno: errno)
    }
    if got == 0 { break }
    result.append(contentsOf: chunk[0..<got])
  }
  guard result.count <= limit else {
    throw .fileTooLarge(path: path, size: max(statSize, UInt64(result.count)))
  }
  return result
}

// GuestImageTests.swift: the guest image parser against ELF files built here, valid and broken.

import DenaliCore
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Guest memory size used by most tests: 2 MiB, the ABI minimum.
private let guestMemory: UInt64 = 2 << 20
/// DENALI_GPA_IMAGE_BASE from denali/abi.h.
private let imageBase: UInt64 = 0x10_0000

private let ptNull: UInt32 = 0
private let ptLoad: UInt32 = 1
private let ptDynamic: UInt32 = 2
private let ptInterp: UInt32 = 3
private let ptNote: UInt32 = 4
private let ptPhdr: UInt32 = 6
private let ptTLS: UInt32 = 7
private let ptGNUStack: UInt32 = 0x6474_E551
private let pfX: UInt32 = 1
private let pfW: UInt32 = 2
private let pfR: UInt32 = 4

// MARK: - ELF builder

/// Builds an ELF64 file: header at 0, program headers at `programHeaderOffset`, segment bytes at
/// each PT_LOAD's p_offset. Every field is a knob so that tests can break exactly one thing.
struct ELFBuilder {
  /// One Elf64_Phdr, plus the byte pattern the builder writes into a PT_LOAD's file range.
  struct ProgramHeader {
    var type: UInt32
    var flags: UInt32
    var offset: UInt64
    var virtualAddress: UInt64
    var physicalAddress: UInt64
    var fileSize: UInt64
    var memorySize: UInt64
    var align: UInt64 = 0x1000
    var fill: UInt8 = 0xCC

    /// A PT_LOAD with p_vaddr == p_paddr == `address`.
    static func load(
      flags: UInt32, offset: UInt64, address: UInt64, fileSize: UInt64, memorySize: UInt64,
      fill: UInt8 = 0xCC
    ) -> ProgramHeader {
      ProgramHeader(
        type: ptLoad, flags: flags, offset: offset, virtualAddress: address,
        physicalAddress: address, fileSize: fileSize, memorySize: memorySize, fill: fill)
    }

    /// A header of another type with the given (possibly nonsense) fields.
    static func other(_ type: UInt32, offset: UInt64 = 0, size: UInt64 = 0) -> ProgramHeader {
      ProgramHeader(
        type: type, flags: pfR, offset: offset, virtualAddress: 0, physicalAddress: 0,
        fileSize: size, memorySize: size, align: 8)
    }
  }

  var magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
  var elfClass: UInt8 = 2
  var dataEncoding: UInt8 = 1
  var identVersion: UInt8 = 1
  var type: UInt16 = 2
  var machine: UInt16 = 62
  var version: UInt32 = 1
  var entry: UInt64 = 0x10_0010
  var programHeaderOffset: UInt64 = 64
  var programHeaderEntrySize: UInt16 = 56
  /// e_phnum; nil means `headers.count`.
  var programHeaderCount: UInt16? = nil
  var headers: [ProgramHeader]
  /// Final file length (truncating or zero-padding); nil means just long enough for everything.
  var length: Int? = nil

  /// A valid image: text (R+X) at 0x100000, data+bss (R+W) at 0x101000, plus PT_GNU_STACK and
  /// PT_NOTE headers that the loader must ignore. Entry 0x100010; end 0x104000.
  static var valid: ELFBuilder {
    ELFBuilder(headers: [
      .load(
        flags: pfR | pfX, offset: 0x1000, address: 0x10_0000, fileSize: 0x40, memorySize: 0x40,
        fill: 0x90),
      .load(
        flags: pfR | pfW, offset: 0x2000, address: 0x10_1000, fileSize: 0x20, memorySize: 0x2800,
        fill: 0x5A),
      .other(ptGNUStack),
      .other(ptNote, offset: 0x1000, size: 0x10),
    ])
  }

  /// The expected segments of `valid`.
  static let validSegments: [GuestImage.Segment] = [
    GuestImage.Segment(
      guestAddress: 0x10_0000, fileRange: 0x1000..<0x1040, memorySize: 0x40, isExecutable: true,
      isWritable: false),
    GuestImage.Segment(
      guestAddress: 0x10_1000, fileRange: 0x2000..<0x2020, memorySize: 0x2800, isExecutable: false,
      isWritable: true),
  ]

  /// Files are never built larger than this, however large the offsets in the headers.
  private static let sanityLimit: UInt64 = 16 << 20

  /// The file's bytes.
  func build() -> [UInt8] {
    var needed: UInt64 = 64
    let tableSize = UInt64(headers.count) * 56
    if programHeaderOffset < ELFBuilder.sanityLimit {
      needed = max(needed, programHeaderOffset + tableSize)
    }
    for header in headers where header.type == ptLoad {
      let (end, overflow) = header.offset.addingReportingOverflow(header.fileSize)
      if !overflow && end < ELFBuilder.sanityLimit { needed = max(needed, end) }
    }
    var bytes = [UInt8](repeating: 0, count: Int(needed))

    bytes.replaceSubrange(0..<min(4, magic.count), with: magic.prefix(4))
    bytes[4] = elfClass
    bytes[5] = dataEncoding
    bytes[6] = identVersion
    put(&bytes, 16, type)
    put(&bytes, 18, machine)
    put(&bytes, 20, version)
    put(&bytes, 24, entry)
    put(&bytes, 32, programHeaderOffset)
    put(&bytes, 40, UInt64(0))  // e_shoff
    put(&bytes, 48, UInt32(0))  // e_flags
    put(&bytes, 52, UInt16(64))  // e_ehsize
    put(&bytes, 54, programHeaderEntrySize)
    put(&bytes, 56, programHeaderCount ?? UInt16(headers.count))

    for header in headers where header.type == ptLoad {
      let (end, overflow) = header.offset.addingReportingOverflow(header.fileSize)
      guard !overflow, end < ELFBuilder.sanityLimit else { continue }
      for (index, position) in (Int(header.offset)..<Int(end)).enumerated() {
        bytes[position] = header.fill &+ UInt8(truncatingIfNeeded: index)
      }
    }
    if programHeaderOffset < ELFBuilder.sanityLimit {
      for (index, header) in headers.enumerated() {
        let base = Int(programHeaderOffset) + index * 56
        put(&bytes, base, header.type)
        put(&bytes, base + 4, header.flags)
        put(&bytes, base + 8, header.offset)
        put(&bytes, base + 16, header.virtualAddress)
        put(&bytes, base + 24, header.physicalAddress)
        put(&bytes, base + 32, header.fileSize)
        put(&bytes, base + 40, header.memorySize)
        put(&bytes, base + 48, header.align)
      }
    }

    if let length {
      if length < bytes.count {
        bytes.removeSubrange(length...)
      } else {
        bytes += [UInt8](repeating: 0, count: length - bytes.count)
      }
    }
    return bytes
  }

  /// A copy with `change` applied.
  func with(_ change: (inout ELFBuilder) -> Void) -> ELFBuilder {
    var copy = self
    change(&copy)
    return copy
  }
}

/// Writes `value` little-endian at `offset`.
private func put<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ offset: Int, _ value: T) {
  for index in 0..<(T.bitWidth / 8) {
    bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8))
  }
}

/// The error parsing `bytes` throws, or nil if it parses.
private func parseError(_ bytes: [UInt8], memorySize: UInt64 = guestMemory) -> GuestImageError? {
  do {
    _ = try GuestImage(bytes: bytes, memorySize: memorySize)
    return nil
  } catch {
    return error
  }
}

/// The error parsing the builder's file throws, or nil if it parses.
private func parseError(_ builder: ELFBuilder, memorySize: UInt64 = guestMemory) -> GuestImageError? {
  parseError(builder.build(), memorySize: memorySize)
}

/// Checks everything a loader relies on for an image that parsed.
private func checkInvariants(
  _ image: GuestImage, memorySize: UInt64, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(!image.segments.isEmpty, sourceLocation: sourceLocation)
  #expect(image.end % 0x1000 == 0, sourceLocation: sourceLocation)
  var ranges: [(UInt64, UInt64)] = []
  for segment in image.segments {
    let (end, overflow) = segment.guestAddress.addingReportingOverflow(segment.memorySize)
    #expect(!overflow, sourceLocation: sourceLocation)
    #expect(segment.memorySize > 0, sourceLocation: sourceLocation)
    #expect(segment.guestAddress >= imageBase, sourceLocation: sourceLocation)
    #expect(end <= memorySize, sourceLocation: sourceLocation)
    #expect(end <= image.end, sourceLocation: sourceLocation)
    #expect(segment.fileRange.lowerBound >= 0, sourceLocation: sourceLocation)
    #expect(segment.fileRange.upperBound <= image.bytes.count, sourceLocation: sourceLocation)
    #expect(UInt64(segment.fileRange.count) <= segment.memorySize, sourceLocation: sourceLocation)
    ranges.append((segment.guestAddress, end))
  }
  for i in ranges.indices {
    for j in ranges.indices where i < j {
      let disjoint = ranges[i].1 <= ranges[j].0 || ranges[j].1 <= ranges[i].0
      #expect(disjoint, "segments \(i) and \(j) overlap", sourceLocation: sourceLocation)
    }
  }
  let entryOK = image.segments.contains {
    $0.isExecutable && image.entry >= $0.guestAddress
      && image.entry - $0.guestAddress < $0.memorySize
  }
  #expect(entryOK, "entry not in an executable segment", sourceLocation: sourceLocation)
}

// MARK: - Valid images

@Suite("GuestImage: valid images")
struct GuestImageValidTests {
  @Test("the reference image parses: entry, segments, end")
  func validImage() throws {
    let bytes = ELFBuilder.valid.build()
    #expect(bytes.count == 0x2020)
    let image = try GuestImage(bytes: bytes, memorySize: guestMemory)
    #expect(image.entry == 0x10_0010)
    #expect(image.segments == ELFBuilder.validSegments)
    #expect(image.end == 0x10_4000)
    #expect(image.bytes == bytes)
    #expect(Array(image.bytes[image.segments[0].fileRange]).first == 0x90)
    checkInvariants(image, memorySize: guestMemory)
  }

  @Test("end is the highest segment end rounded up to 4 KiB, not the last header's")
  func endRounding() throws {
    let builder = ELFBuilder.valid.with {
      // Put the data segment first and make it end exactly on a page.
      $0.headers.swapAt(0, 1)
      $0.headers[0].memorySize = 0x1000
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.end == 0x10_2000)
    #expect(image.segments.map(\.guestAddress) == [0x10_1000, 0x10_0000])
  }

  @Test("a segment may end exactly at the end of guest memory")
  func segmentAtTopOfMemory() throws {
    let builder = ELFBuilder.valid.with {
      $0.headers[1].memorySize = guestMemory - 0x10_1000
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.end == guestMemory)
    checkInvariants(image, memorySize: guestMemory)
  }

  @Test("adjacent segments do not overlap")
  func adjacentSegments() throws {
    let builder = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = 0x10_0040
      $0.headers[1].physicalAddress = 0x10_0040
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.segments[1].guestAddress == 0x10_0040)
  }

  @Test("the entry may be the last byte of an executable segment")
  func entryAtLastByte() throws {
    let image = try GuestImage(
      bytes: ELFBuilder.valid.with { $0.entry = 0x10_003F }.build(), memorySize: guestMemory)
    #expect(image.entry == 0x10_003F)
  }

  @Test("the entry may be in the zero-filled part of an executable segment")
  func entryInBSSPartOfExecutableSegment() throws {
    let builder = ELFBuilder.valid.with {
      $0.headers[0].memorySize = 0x100
      $0.entry = 0x10_00F0
    }
    #expect(parseError(builder) == nil)
  }

  @Test(
    "non-PT_LOAD headers are ignored, even with nonsense fields",
    arguments: [ptNull, ptNote, ptPhdr, ptTLS, ptGNUStack, 0x6474_E552, 0x6474_E553, 0x7000_0000])
  func ignoredHeaders(type: UInt32) throws {
    let builder = ELFBuilder.valid.with {
      var header = ELFBuilder.ProgramHeader.other(type, offset: UInt64.max - 2, size: UInt64.max)
      header.virtualAddress = 5
      header.physicalAddress = 7
      $0.headers.append(header)
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.segments == ELFBuilder.validSegments)
  }

  @Test("a zero-size PT_LOAD is dropped and ignores address bounds and overlap")
  func zeroSizeLoad() throws {
    let builder = ELFBuilder.valid.with {
      // One at address 0 (below the base), one inside the text segment.
      $0.headers.append(.load(flags: pfR, offset: 0, address: 0, fileSize: 0, memorySize: 0))
      $0.headers.append(
        .load(flags: pfR | pfX, offset: 0x1000, address: 0x10_0008, fileSize: 0, memorySize: 0))
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.segments == ELFBuilder.validSegments)
  }

  @Test("a segment with no file bytes (pure bss) has an empty file range")
  func pureBSS() throws {
    let builder = ELFBuilder.valid.with {
      $0.headers[1].fileSize = 0
    }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.segments[1].fileRange == 0x2000..<0x2000)
    #expect(image.segments[1].memorySize == 0x2800)
  }

  @Test("a writable and executable segment reports both flags")
  func flags() throws {
    let builder = ELFBuilder.valid.with { $0.headers[0].flags = pfR | pfW | pfX }
    let image = try GuestImage(bytes: builder.build(), memorySize: guestMemory)
    #expect(image.segments[0].isExecutable && image.segments[0].isWritable)
  }

  @Test("program headers may sit anywhere in the file, e.g. at its end")
  func programHeadersAtEnd() throws {
    let builder = ELFBuilder.valid.with { $0.programHeaderOffset = 0x2020 }
    let bytes = builder.build()
    #expect(bytes.count == 0x2020 + 4 * 56)
    #expect(parseError(bytes) == nil)
  }
}

// MARK: - Malformed images

@Suite("GuestImage: malformed images are refused with the specific error")
struct GuestImageMalformedTests {
  @Test func emptyImage() {
    #expect(parseError([]) == .empty)
  }

  @Test("shorter than the ELF header", arguments: [1, 4, 16, 63])
  func truncatedHeader(length: Int) {
    let bytes = Array(ELFBuilder.valid.build().prefix(length))
    #expect(parseError(bytes) == .truncatedHeader(size: length))
  }

  @Test func badMagic() {
    #expect(parseError(ELFBuilder.valid.with { $0.magic = [0x7F, 0x45, 0x4C, 0x47] }) == .badMagic)
    #expect(parseError(ELFBuilder.valid.with { $0.magic = [0x4D, 0x5A, 0x90, 0x00] }) == .badMagic)
    #expect(parseError([UInt8](repeating: 0, count: 4096)) == .badMagic)
  }

  @Test func notELF64() {
    #expect(parseError(ELFBuilder.valid.with { $0.elfClass = 1 }) == .notELF64(elfClass: 1))
    #expect(parseError(ELFBuilder.valid.with { $0.elfClass = 0 }) == .notELF64(elfClass: 0))
  }

  @Test func notLittleEndian() {
    #expect(
      parseError(ELFBuilder.valid.with { $0.dataEncoding = 2 }) == .notLittleEndian(encoding: 2))
  }

  @Test func badIdentVersion() {
    #expect(parseError(ELFBuilder.valid.with { $0.identVersion = 0 }) == .badIdentVersion(0))
    #expect(parseError(ELFBuilder.valid.with { $0.identVersion = 2 }) == .badIdentVersion(2))
  }

  @Test(
    "ET_DYN and ET_REL: dynamic/relocatable images are not supported", arguments: [UInt16(1), 3])
  func dynamicOrRelocatable(type: UInt16) {
    let error = parseError(ELFBuilder.valid.with { $0.type = type })
    #expect(error == .dynamicOrRelocatable(type: type))
    #expect(error?.description.contains("dynamic/relocatable images are not supported") == true)
  }

  @Test("other e_type values", arguments: [UInt16(0), 4, 0xFE00, 0xFFFF])
  func notExecutable(type: UInt16) {
    #expect(parseError(ELFBuilder.valid.with { $0.type = type }) == .notExecutable(type: type))
  }

  @Test("e_machine other than EM_X86_64", arguments: [UInt16(0), 3, 40, 183, 243])
  func wrongMachine(machine: UInt16) {
    #expect(parseError(ELFBuilder.valid.with { $0.machine = machine }) == .wrongMachine(machine))
  }

  @Test("e_phentsize other than 56", arguments: [UInt16(0), 32, 55, 57, 64])
  func badProgramHeaderSize(size: UInt16) {
    #expect(
      parseError(ELFBuilder.valid.with { $0.programHeaderEntrySize = size })
        == .badProgramHeaderSize(size))
  }

  @Test("e_phnum of 0 or more than 64", arguments: [UInt16(0), 65, 1000, 0xFFFF])
  func badProgramHeaderCount(count: UInt16) {
    let builder = ELFBuilder.valid.with { $0.programHeaderCount = count }
    #expect(parseError(builder) == .badProgramHeaderCount(count))
  }

  @Test func programHeaderTableOverflow() {
    let offset = UInt64.max - 100
    let builder = ELFBuilder.valid.with { $0.programHeaderOffset = offset }
    #expect(parseError(builder) == .programHeaderTableOverflow(offset: offset, count: 4))
  }

  @Test func programHeadersPastEndOfFile() {
    // Table cut in the middle of the last entry.
    let cut = ELFBuilder.valid.with {
      $0.programHeaderOffset = 0x2020
      $0.length = 0x2020 + 3 * 56 + 10
    }
    #expect(
      parseError(cut) == .programHeadersTruncated(offset: 0x2020, count: 4, fileSize: 0x2020 + 178))
    // e_phnum claims more entries than the file holds.
    let tooMany = ELFBuilder.valid.with {
      $0.programHeaderOffset = 0x2020
      $0.programHeaderCount = 5
    }
    #expect(
      parseError(tooMany)
        == .programHeadersTruncated(offset: 0x2020, count: 5, fileSize: 0x2020 + 224))
    // Offset far past the end (and past Int.max) without overflowing.
    let far = ELFBuilder.valid.with { $0.programHeaderOffset = 1 << 63 }
    #expect(
      parseError(far) == .programHeadersTruncated(offset: 1 << 63, count: 4, fileSize: 0x2020))
  }

  @Test("PT_INTERP or PT_DYNAMIC means not static", arguments: [ptInterp, ptDynamic])
  func notStatic(type: UInt32) {
    let builder = ELFBuilder.valid.with {
      $0.headers.insert(.other(type, offset: 0x1000, size: 0x10), at: 2)
    }
    #expect(parseError(builder) == .notStatic(header: 2, type: type))
  }

  @Test("not-static is reported even when a PT_LOAD is also broken")
  func notStaticTakesPrecedence() {
    let builder = ELFBuilder.valid.with {
      $0.headers[0].physicalAddress = 0
      $0.headers.append(.other(ptInterp))
    }
    #expect(parseError(builder) == .notStatic(header: 4, type: ptInterp))
  }

  @Test func noLoadableSegment() {
    let none = ELFBuilder.valid.with { $0.headers = [.other(ptGNUStack), .other(ptNote)] }
    #expect(parseError(none) == .noLoadableSegment)
    let onlyEmpty = ELFBuilder.valid.with {
      $0.headers = [
        .load(flags: pfR | pfX, offset: 0, address: 0x10_0000, fileSize: 0, memorySize: 0)
      ]
    }
    #expect(parseError(onlyEmpty) == .noLoadableSegment)
  }

  @Test func fileSizeExceedsMemorySize() {
    let builder = ELFBuilder.valid.with { $0.headers[1].memorySize = 0x10 }
    #expect(
      parseError(builder) == .fileSizeExceedsMemorySize(header: 1, fileSize: 0x20, memorySize: 0x10)
    )
  }

  @Test func virtualAndPhysicalAddressesDiffer() {
    let builder = ELFBuilder.valid.with { $0.headers[1].virtualAddress = 0xFFFF_FFFF_8010_1000 }
    #expect(
      parseError(builder)
        == .addressMismatch(
          header: 1, virtualAddress: 0xFFFF_FFFF_8010_1000, physicalAddress: 0x10_1000))
  }

  @Test func segmentFileRangeOverflow() {
    let builder = ELFBuilder.valid.with { $0.headers[1].offset = UInt64.max - 4 }
    #expect(
      parseError(builder)
        == .segmentFileRangeOverflow(header: 1, offset: UInt64.max - 4, fileSize: 0x20))
  }

  @Test func segmentBytesPastEndOfFile() {
    let cut = ELFBuilder.valid.with { $0.length = 0x2010 }
    #expect(
      parseError(cut)
        == .segmentTruncated(header: 1, offset: 0x2000, fileSize: 0x20, imageSize: 0x2010))
    // An offset past Int.max that does not overflow UInt64.
    let far = ELFBuilder.valid.with {
      $0.headers[1].offset = 1 << 63
      $0.length = 0x2020
    }
    #expect(
      parseError(far)
        == .segmentTruncated(header: 1, offset: 1 << 63, fileSize: 0x20, imageSize: 0x2020))
    // Even a zero-size PT_LOAD must point inside the file.
    let emptyFar = ELFBuilder.valid.with {
      $0.headers.append(
        .load(flags: pfR, offset: 0x9000, address: 0x20_0000, fileSize: 0, memorySize: 0))
      $0.length = 0x2020
    }
    #expect(
      parseError(emptyFar)
        == .segmentTruncated(header: 4, offset: 0x9000, fileSize: 0, imageSize: 0x2020))
  }

  @Test func segmentAddressOverflow() {
    let address = UInt64.max - 0x100
    let wraps = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = address
      $0.headers[1].physicalAddress = address
    }
    #expect(
      parseError(wraps) == .segmentAddressOverflow(header: 1, address: address, memorySize: 0x2800))
    // The end itself fits, but rounding it up to a page would not.
    let rounding = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = UInt64.max - 0x2800 - 0x10
      $0.headers[1].physicalAddress = UInt64.max - 0x2800 - 0x10
    }
    #expect(
      parseError(rounding, memorySize: UInt64.max)
        == .segmentAddressOverflow(
          header: 1, address: UInt64.max - 0x2800 - 0x10, memorySize: 0x2800))
  }

  @Test("segment below DENALI_GPA_IMAGE_BASE", arguments: [UInt64(0), 0x8000, 0xF_F000, 0xF_FFFF])
  func segmentBelowImageBase(address: UInt64) {
    let builder = ELFBuilder.valid.with {
      $0.headers[0].virtualAddress = address
      $0.headers[0].physicalAddress = address
    }
    #expect(parseError(builder) == .segmentBelowImageBase(header: 0, address: address))
  }

  @Test func segmentBeyondMemory() {
    let builder = ELFBuilder.valid.with { $0.headers[1].memorySize = guestMemory - 0x10_1000 + 1 }
    #expect(
      parseError(builder)
        == .segmentBeyondMemory(header: 1, end: guestMemory + 1, guestMemorySize: guestMemory))
    let wholeSegmentAbove = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = 0x4000_0000
      $0.headers[1].physicalAddress = 0x4000_0000
    }
    #expect(
      parseError(wholeSegmentAbove)
        == .segmentBeyondMemory(header: 1, end: 0x4000_2800, guestMemorySize: guestMemory))
    // Memory smaller than the image base: nothing fits.
    #expect(
      parseError(ELFBuilder.valid, memorySize: 0x8_0000)
        == .segmentBeyondMemory(header: 0, end: 0x10_0040, guestMemorySize: 0x8_0000))
  }

  @Test func segmentsOverlap() {
    let partial = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = 0x10_0020
      $0.headers[1].physicalAddress = 0x10_0020
    }
    #expect(parseError(partial) == .segmentsOverlap(first: 0, second: 1))
    let identical = ELFBuilder.valid.with {
      $0.headers[1].virtualAddress = 0x10_0000
      $0.headers[1].physicalAddress = 0x10_0000
    }
    #expect(parseError(identical) == .segmentsOverlap(first: 0, second: 1))
    // One segment inside another, with an unrelated one between them: indices are header order.
    let contained = ELFBuilder.valid.with {
      $0.headers.insert(
        .load(flags: pfR, offset: 0x1000, address: 0x10_1800, fileSize: 0, memorySize: 0x10), at: 0)
    }
    #expect(parseError(contained) == .segmentsOverlap(first: 0, second: 2))
  }

  @Test(
    "entry point outside every executable segment",
    arguments: [
      UInt64(0), 0x10_0040, 0x10_1000, 0x10_1FFF, 0xF_FFFF, guestMemory, UInt64.max,
    ])
  func entryNotExecutable(entry: UInt64) {
    let builder = ELFBuilder.valid.with { $0.entry = entry }
    #expect(parseError(builder) == .entryNotExecutable(entry: entry))
  }

  @Test("entry point in a segment without PF_X")
  func entryInNonExecutableSegment() {
    let builder = ELFBuilder.valid.with { $0.headers[0].flags = pfR }
    #expect(parseError(builder) == .entryNotExecutable(entry: 0x10_0010))
  }
}

// MARK: - Error messages

@Suite("GuestImageError descriptions")
struct GuestImageErrorDescriptionTests {
  static let all: [GuestImageError] = [
    .unreadable(path: "/x", errno: ENOENT), .notARegularFile(path: "/x"),
    .fileTooLarge(path: "/x", size: 1 << 30), .empty, .truncatedHeader(size: 3), .badMagic,
    .notELF64(elfClass: 1), .notLittleEndian(encoding: 2), .badIdentVersion(0),
    .dynamicOrRelocatable(type: 3), .dynamicOrRelocatable(type: 1), .notExecutable(type: 4),
    .wrongMachine(3), .badProgramHeaderSize(32), .badProgramHeaderCount(0),
    .programHeaderTableOverflow(offset: UInt64.max, count: 2),
    .programHeadersTruncated(offset: 64, count: 2, fileSize: 100), .notStatic(header: 1, type: 3),
    .notStatic(header: 1, type: 2),
    .addressMismatch(header: 0, virtualAddress: 1, physicalAddress: 2),
    .fileSizeExceedsMemorySize(header: 0, fileSize: 2, memorySize: 1),
    .segmentFileRangeOverflow(header: 0, offset: UInt64.max, fileSize: 1),
    .segmentTruncated(header: 0, offset: 0, fileSize: 10, imageSize: 5),
    .segmentAddressOverflow(header: 0, address: UInt64.max, memorySize: 1),
    .segmentBelowImageBase(header: 0, address: 0),
    .segmentBeyondMemory(header: 0, end: 1, guestMemorySize: 0),
    .segmentsOverlap(first: 0, second: 1), .noLoadableSegment, .entryNotExecutable(entry: 0),
  ]

  @Test("every error has a distinct, non-empty, one-line description")
  func descriptions() {
    let texts = GuestImageErrorDescriptionTests.all.map(\.description)
    for text in texts {
      #expect(!text.isEmpty)
      #expect(!text.contains("\n"))
    }
    #expect(Set(texts).count == texts.count)
    #expect(
      GuestImageError.unreadable(path: "/x", errno: ENOENT).description.contains("No such file"))
    #expect(GuestImageError.dynamicOrRelocatable(type: 1).description.contains("ET_REL"))
    #expect(GuestImageError.notStatic(header: 1, type: 3).description.contains("PT_INTERP"))
    #expect(
      GuestImageError.segmentBelowImageBase(header: 0, address: 0).description.contains("0x100000"))
  }
}

// MARK: - Fuzzing

@Suite("GuestImage: random inputs never crash the parser")
struct GuestImageFuzzTests {
  /// Values likely to hit edge cases when written into a header field.
  static let interesting: [UInt64] = [
    0, 1, 0x38, 0x40, 0xFFF, 0x1000, 0x10_0000, 0x10_0010, 0xF_FFFF, guestMemory, guestMemory - 1,
    1 << 31, 1 << 32, 1 << 63, UInt64(Int.max), UInt64.max, UInt64.max - 0xFFF, UInt64.max - 1,
  ]

  @Test("2,000 random mutations of a valid image either parse with all invariants or throw")
  func mutations() {
    var random = SplitMix64(seed: 0xDE7A_11)
    let original = ELFBuilder.valid.with {
      // More than one executable segment and a bss-only one, for more interesting mutations.
      $0.headers.append(
        .load(
          flags: pfR | pfX, offset: 0x1040, address: 0x10_8000, fileSize: 0x10, memorySize: 0x10))
      $0.headers.append(
        .load(flags: pfR, offset: 0, address: 0x11_0000, fileSize: 0, memorySize: 0x3000))
    }.build()
    let headerRegion = 64 + 6 * 56
    var accepted = 0
    var refused = 0
    for _ in 0..<2000 {
      var bytes = original
      let rounds = Int.random(in: 1...4, using: &random)
      for _ in 0..<rounds {
        switch Int.random(in: 0..<6, using: &random) {
        case 0:  // flip a bit anywhere
          guard !bytes.isEmpty else { break }
          let i = Int.random(in: 0..<bytes.count, using: &random)
          bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1:  // random byte in the headers
          guard !bytes.isEmpty else { break }
          let i = Int.random(in: 0..<min(headerRegion, bytes.count), using: &random)
          bytes[i] = UInt8.random(in: 0...255, using: &random)
        case 2:  // interesting 64-bit value over an 8-aligned header field
          let slot = Int.random(in: 0..<(headerRegion / 8), using: &random) * 8
          guard slot + 8 <= bytes.count else { break }
          let value =
            Bool.random(using: &random)
            ? GuestImageFuzzTests.interesting.randomElement(using: &random) ?? 0 : random.next()
          put(&bytes, slot, value)
        case 3:  // interesting 16-bit value over e_type .. e_phnum
          let offset = [16, 18, 54, 56].randomElement(using: &random) ?? 16
          guard offset + 2 <= bytes.count else { break }
          put(&bytes, offset, UInt16.random(in: 0...70, using: &random))
        case 4:  // truncate
          bytes.removeSubrange(Int.random(in: 0...bytes.count, using: &random)...)
        default:  // append garbage
          bytes += (0..<Int.random(in: 1...64, using: &random)).map { _ in
            UInt8.random(in: 0...255, using: &random)
          }
        }
      }
      let memory =
        Bool.random(using: &random) ? guestMemory : UInt64.random(in: 0...(4 << 20), using: &random)
      do {
        let image = try GuestImage(bytes: bytes, memorySize: memory)
        checkInvariants(image, memorySize: memory)
        accepted += 1
      } catch {
        #expect(!error.description.isEmpty)
        refused += 1
      }
    }
    #expect(accepted + refused == 2000)
    #expect(accepted > 0)
    #expect(refused > 0)
  }

  @Test("random garbage, with and without an ELF prefix, is refused")
  func garbage() {
    var random = SplitMix64(seed: 42)
    let prefix: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]
    for round in 0..<1000 {
      var bytes = (0..<Int.random(in: 0...600, using: &random)).map { _ in
        UInt8.random(in: 0...255, using: &random)
      }
      if round % 2 == 0 {
        bytes.replaceSubrange(0..<min(prefix.count, bytes.count), with: prefix.prefix(bytes.count))
      }
      do {
        let image = try GuestImage(bytes: bytes, memorySize: guestMemory)
        checkInvariants(image, memorySize: guestMemory)
      } catch {
        #expect(!error.description.isEmpty)
      }
    }
  }
}

// MARK: - Files

/// A fresh temporary directory, removed when `body` returns.
private func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("GuestImageTests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  return try body(directory)
}

/// The error `GuestImage(contentsOf:)` throws for `path`, or nil if it loads.
private func loadError(_ path: String) -> GuestImageError? {
  do {
    _ = try GuestImage(contentsOf: path, memorySize: guestMemory)
    return nil
  } catch {
    return error
  }
}

@Suite("GuestImage: reading files")
struct GuestImageFileTests {
  @Test func validFile() throws {
    try withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("guest.elf").path
      let bytes = ELFBuilder.valid.build()
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let image = try GuestImage(contentsOf: path, memorySize: guestMemory)
      #expect(image.bytes == bytes)
      #expect(image.segments == ELFBuilder.validSegments)
      #expect(image.entry == 0x10_0010)
      #expect(image.end == 0x10_4000)
    }
  }

  @Test func nonExistentPath() throws {
    try withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("missing.elf").path
      #expect(loadError(path) == .unreadable(path: path, errno: ENOENT))
    }
  }

  @Test func pathThroughAFile() throws {
    try withTemporaryDirectory { directory in
      let file = directory.appendingPathComponent("file")
      try Data([1]).write(to: file)
      let path = file.path + "/guest.elf"
      #expect(loadError(path) == .unreadable(path: path, errno: ENOTDIR))
    }
  }

  @Test func directory() throws {
    try withTemporaryDirectory { directory in
      #expect(loadError(directory.path) == .notARegularFile(path: directory.path))
    }
  }

  @Test("devices are not regular files")
  func device() {
    #expect(loadError("/dev/null") == .notARegularFile(path: "/dev/null"))
  }

  @Test("a FIFO is refused without blocking")
  func fifo() throws {
    try withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("fifo").path
      #expect(mkfifo(path, 0o600) == 0)
      #expect(loadError(path) == .notARegularFile(path: path))
    }
  }

  @Test func emptyFile() throws {
    try withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("empty.elf").path
      #expect(FileManager.default.createFile(atPath: path, contents: Data()))
      #expect(loadError(path) == .empty)
    }
  }

  @Test("a file one byte over maximumFileSize is refused")
  func tooLarge() throws {
    try withTemporaryDirectory { directory in
      let url = directory.appendingPathComponent("huge.elf")
      let path = url.path
      try Data(ELFBuilder.valid.build()).write(to: url)
      let handle = try FileHandle(forWritingTo: url)
      try handle.truncate(atOffset: UInt64(GuestImage.maximumFileSize) + 1)  // sparse
      try handle.close()
      #expect(
        loadError(path) == .fileTooLarge(path: path, size: UInt64(GuestImage.maximumFileSize) + 1))
    }
  }

  @Test("a file of exactly maximumFileSize is read whole")
  func exactlyMaximumSize() throws {
    try withTemporaryDirectory { directory in
      let url = directory.appendingPathComponent("big.elf")
      try Data(ELFBuilder.valid.build()).write(to: url)
      let handle = try FileHandle(forWritingTo: url)
      try handle.truncate(atOffset: UInt64(GuestImage.maximumFileSize))  // sparse
      try handle.close()
      let image = try GuestImage(contentsOf: url.path, memorySize: guestMemory)
      #expect(image.bytes.count == GuestImage.maximumFileSize)
      #expect(image.segments == ELFBuilder.validSegments)
    }
  }

  @Test("parse errors come through unchanged from a file")
  func malformedFile() throws {
    try withTemporaryDirectory { directory in
      let url = directory.appendingPathComponent("bad.elf")
      try Data(ELFBuilder.valid.with { $0.type = 3 }.build()).write(to: url)
      #expect(loadError(url.path) == .dynamicOrRelocatable(type: 3))
    }
  }
}

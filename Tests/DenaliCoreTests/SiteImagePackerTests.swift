// SiteImagePackerTests.swift: `denalid disk pack`'s packer: the bytes it writes (decoded here independently of
// it), determinism, and every input it must refuse (escaping or broken symlinks, cycles, special files, bad
// names, paths, counts and sizes past the limits, an output inside the site).
import DenaliABI
import Foundation
import Glibc
import Testing

@testable import DenaliCore

/// A temporary directory with a `site` folder in it, removed when the test ends.
final class SiteFixture {
  /// The temporary directory.
  let root: String
  /// `root/site`.
  var site: String { root + "/site" }
  /// `root/site.img`.
  var image: String { root + "/site.img" }

  init() throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("site-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root + "/site", withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: root) }

  /// Writes `bytes` to `site/relative`, creating folders.
  func write(_ relative: String, _ bytes: [UInt8]) throws {
    let url = URL(fileURLWithPath: site + "/" + relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
  }

  /// Writes `text` to `site/relative`.
  func write(_ relative: String, _ text: String) throws { try write(relative, Array(text.utf8)) }

  /// Makes `site/relative` a symbolic link to `target`.
  func link(_ relative: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: site + "/" + relative, withDestinationPath: target)
  }

  /// Packs the site into `image` with `limits`.
  @discardableResult
  func pack(_ limits: SiteImageLimits = .format) throws(SiteImageError) -> SitePackSummary {
    try SiteImagePacker.pack(directory: site, output: image, limits: limits)
  }

  /// The packed image's bytes.
  func imageBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: image))) }
}

/// A site image decoded by the test's own reading of Docs/GUESTS.md (not by the packer's code).
struct DecodedSiteImage {
  struct Entry {
    let hash: UInt64
    let firstBlock: UInt64
    let size: UInt64
    let checksum: UInt64
    let contentType: UInt8
    let path: String
  }

  let bytes: [UInt8]
  let fileCount: Int
  let totalBlocks: UInt64
  let storedChecksum: UInt64
  let fence: [UInt64]
  let hashes: [UInt64]
  let entries: [Entry]

  init(_ bytes: [UInt8]) {
    self.bytes = bytes
    func u64(_ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) } }
    func u32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: u64(offset) & 0xFFFF_FFFF) }
    fileCount = Int(u32(12))
    totalBlocks = u64(16)
    storedChecksum = u64(24)
    let hashBlocks = (fileCount + 511) / 512
    fence = (0..<hashBlocks).map { u64(64 + 8 * $0) }
    hashes = (0..<fileCount).map { u64(4096 + 8 * $0) }
    let entryBase = 4096 * (1 + hashBlocks)
    entries = (0..<fileCount).map { index in
      let entry = entryBase + 256 * index
      let length = Int(bytes[entry + 32]) | Int(bytes[entry + 33]) << 8
      return Entry(
        hash: u64(entry), firstBlock: u64(entry + 8), size: u64(entry + 16), checksum: u64(entry + 24),
        contentType: bytes[entry + 34],
        path: String(decoding: bytes[(entry + 40)..<(entry + 40 + length)], as: UTF8.self))
    }
  }

  /// The data of an entry.
  func data(_ entry: Entry) -> [UInt8] {
    let start = Int(entry.firstBlock) * 4096
    return Array(bytes[start..<(start + Int(entry.size))])
  }

  /// The entry for `path`, found the way a guest does: fence, then hash block, then entry.
  func lookup(_ path: String) -> Entry? {
    let hash = Reference.fnv(Array(path.utf8))
    guard let block = fence.lastIndex(where: { $0 <= hash }) else { return nil }
    let first = block * 512
    guard let index = hashes[first..<min(first + 512, fileCount)].firstIndex(of: hash) else { return nil }
    return entries[index].path == path ? entries[index] : nil
  }
}

/// The format's hash and checksum, written from the specification.
enum Reference {
  static func fnv(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
  }

  static func wordChecksum(_ bytes: [UInt8]) -> UInt64 {
    var padded = bytes
    padded += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for word in stride(from: 0, to: padded.count, by: 8) {
      let value = (0..<8).reduce(UInt64(0)) { $0 | UInt64(padded[word + $1]) << (8 * UInt64($1)) }
      hash = (hash ^ value) &* 0x100_0000_01b3
    }
    return hash
  }
}

@Suite("SiteImagePacker")
struct SiteImagePackerTests {
  /// Bytes that differ per file and per position.
  static func content(_ size: Int, seed: UInt8) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
  }

  @Test("packs every file with its path, size, type, checksum and block-aligned, zero-padded data")
  func roundTrip() throws {
    let fixture = try SiteFixture()
    let files: [(String, [UInt8])] = [
      ("index.html", Array("<h1>hi</h1>".utf8)), ("empty.txt", []), ("a/b/c.css", Self.content(4095, seed: 1)),
      ("a/block.bin", Self.content(4096, seed: 2)), ("a/over", Self.content(4097, seed: 3)),
      ("big.JPG", Self.content(70_000, seed: 4)), ("é 100%.json", Self.content(10, seed: 5)),
      (".well-known/x", Self.content(3, seed: 6)),
    ]
    for (path, bytes) in files { try fixture.write(path, bytes) }
    try FileManager.default.createDirectory(atPath: fixture.site + "/empty-dir", withIntermediateDirectories: false)
    let summary = try fixture.pack()
    let image = DecodedSiteImage(try fixture.imageBytes())

    #expect(summary.files == files.count)
    #expect(summary.contentBytes == UInt64(files.reduce(0) { $0 + $1.1.count }))
    #expect(image.bytes.count == Int(summary.blocks) * 4096 && UInt64(image.bytes.count / 4096) == image.totalBlocks)
    #expect(Array(image.bytes[0..<8]) == Array("DNLISITE".utf8))
    #expect(image.bytes[8] == 1 && image.fileCount == files.count)
    var header = Array(image.bytes[0..<4096])
    for offset in 24..<32 { header[offset] = 0 }
    #expect(Reference.wordChecksum(header) == image.storedChecksum)
    #expect(image.hashes == image.hashes.sorted() && image.fence == [image.hashes[0]])
    #expect(image.entries.map(\.hash) == image.hashes)
    let metadataBlocks: UInt64 = 1 + 1 + 1  // header, one hash block, one entry block (8 files)
    for (path, bytes) in files {
      let entry = try #require(image.lookup("/" + path), "\(path) missing")
      #expect(entry.hash == Reference.fnv(Array(("/" + path).utf8)))
      #expect(entry.size == UInt64(bytes.count) && image.data(entry) == bytes)
      #expect(entry.firstBlock >= metadataBlocks)
      #expect(entry.checksum == Reference.wordChecksum(bytes))
      let end = Int(entry.firstBlock) * 4096 + bytes.count
      let padding = image.bytes[end..<((end + 4095) / 4096 * 4096)]
      #expect(padding.allSatisfy { $0 == 0 }, "\(path) padding")
    }
    // Data follows path order, each file from the next free block.
    let byPath = image.entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    var next = metadataBlocks
    for entry in byPath {
      #expect(entry.firstBlock == next, "\(entry.path)")
      next += (entry.size + 4095) / 4096
    }
    #expect(next == image.totalBlocks)
    let types = Dictionary(uniqueKeysWithValues: image.entries.map { ($0.path, UInt32($0.contentType)) })
    #expect(types["/index.html"] == DENALI_SITE_TYPE_HTML && types["/a/b/c.css"] == DENALI_SITE_TYPE_CSS)
    #expect(types["/big.JPG"] == DENALI_SITE_TYPE_JPEG && types["/empty.txt"] == DENALI_SITE_TYPE_TEXT)
    #expect(types["/a/over"] == DENALI_SITE_TYPE_OCTET_STREAM && types["/é 100%.json"] == DENALI_SITE_TYPE_JSON)
    #expect(image.lookup("/missing") == nil && image.lookup("/empty-dir") == nil)
  }

  @Test("the offsets the packer and Ilwaco use are those of the C structs")
  func layout() {
    #expect(MemoryLayout<denali_site_header>.offset(of: \.file_count) == 12)
    #expect(MemoryLayout<denali_site_header>.offset(of: \.total_blocks) == 16)
    #expect(MemoryLayout<denali_site_header>.offset(of: \.checksum) == 24)
    #expect(MemoryLayout<denali_site_header>.offset(of: \.fence) == 64)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.first_block) == 8)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.size) == 16)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.checksum) == 24)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.path_length) == 32)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.content_type) == 34)
    #expect(MemoryLayout<denali_site_entry>.offset(of: \.path) == 40)
    #expect(MemoryLayout<denali_site_entry>.size == 256)
  }

  @Test("the same contents give the same bytes, whatever the order of creation, times or modes")
  func deterministic() throws {
    let first = try SiteFixture()
    let second = try SiteFixture()
    let names = (0..<40).map { "dir\($0 % 3)/file\($0).txt" }
    for (index, name) in names.enumerated() { try first.write(name, Self.content(index * 300, seed: UInt8(index))) }
    for (index, name) in names.enumerated().reversed() {
      try second.write(name, Self.content(index * 300, seed: UInt8(index)))
      chmod(second.site + "/" + name, 0o600)
    }
    try first.pack()
    try second.pack()
    let bytes = try first.imageBytes()
    #expect(bytes == (try second.imageBytes()))
    try first.pack()
    #expect(bytes == (try first.imageBytes()))
  }

  @Test("more than 512 files use several hash blocks and the fence finds every one")
  func fence() throws {
    let fixture = try SiteFixture()
    for index in 0..<1100 { try fixture.write("f/\(index)", [UInt8(truncatingIfNeeded: index)]) }
    try fixture.pack()
    let image = DecodedSiteImage(try fixture.imageBytes())
    #expect(image.fence.count == 3 && image.fence == [image.hashes[0], image.hashes[512], image.hashes[1024]])
    for index in 0..<1100 {
      let entry = try #require(image.lookup("/f/\(index)"))
      #expect(image.data(entry) == [UInt8(truncatingIfNeeded: index)])
    }
  }

  @Test("an empty site is a one-block image")
  func emptySite() throws {
    let fixture = try SiteFixture()
    let summary = try fixture.pack()
    #expect(summary == SitePackSummary(files: 0, contentBytes: 0, blocks: 1))
    #expect(DecodedSiteImage(try fixture.imageBytes()).fileCount == 0)
  }

  @Test("symbolic links inside the site are followed, to files and to directories")
  func linksInside() throws {
    let fixture = try SiteFixture()
    try fixture.write("real/page.html", "page")
    try fixture.link("alias.html", to: "real/page.html")
    try fixture.link("mirror", to: "real")
    try fixture.pack()
    let image = DecodedSiteImage(try fixture.imageBytes())
    #expect(Set(image.entries.map(\.path)) == ["/real/page.html", "/alias.html", "/mirror/page.html"])
    #expect(image.entries.allSatisfy { image.data($0) == Array("page".utf8) })
  }

  /// Packs and returns the error, which must be a refusal.
  func refusal(_ fixture: SiteFixture, _ limits: SiteImageLimits = .format) -> SiteImageError? {
    do {
      try fixture.pack(limits)
      return nil
    } catch {
      #expect(error.isRefusal, "\(error)")
      #expect(!FileManager.default.fileExists(atPath: fixture.image), "no image after a refusal")
      let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: fixture.root)) ?? []
      #expect(!leftovers.contains { $0.hasPrefix("site.img") }, "no temporary file left: \(leftovers)")
      return error
    }
  }

  @Test("a link leaving the site is refused: absolute, relative, and through a linked directory")
  func linkEscapes() throws {
    for target in ["/etc/hostname", "../outside.txt", "../"] {
      let fixture = try SiteFixture()
      try Data("secret".utf8).write(to: URL(fileURLWithPath: fixture.root + "/outside.txt"))
      try fixture.write("ok.txt", "ok")
      try fixture.link("escape", to: target)
      let error = refusal(fixture)
      guard case .symlinkEscapes(let path, _) = error else {
        Issue.record("\(target): \(String(describing: error))")
        continue
      }
      #expect(path.hasSuffix("/site/escape"))
    }
  }

  @Test("a broken link, a directory that contains itself, a FIFO and a socket are refused")
  func specialFiles() throws {
    let broken = try SiteFixture()
    try broken.link("nothing", to: "missing")
    #expect(refusal(broken) == .brokenSymlink(path: broken.site + "/nothing"))

    let cycle = try SiteFixture()
    try cycle.write("d/x.txt", "x")
    try cycle.link("d/loop", to: "..")
    guard case .directoryCycle = refusal(cycle) else {
      Issue.record("cycle not refused")
      return
    }

    let fifo = try SiteFixture()
    #expect(mkfifo(fifo.site + "/pipe", 0o600) == 0)
    #expect(refusal(fifo) == .notARegularFile(path: fifo.site + "/pipe", kind: "FIFO"))

    let socketSite = try SiteFixture()
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let path = socketSite.site + "/sock"
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    try #require(bound == 0)
    #expect(refusal(socketSite) == .notARegularFile(path: path, kind: "socket"))
  }

  @Test("names with control bytes, backslashes or invalid UTF-8 are refused")
  func badNames() throws {
    for name in [Array("new\nline".utf8), Array("back\\slash".utf8), [0x66, 0xFF, 0x67], Array("del\u{7f}".utf8)] {
      let fixture = try SiteFixture()
      let path = Array(fixture.site.utf8) + [UInt8(ascii: "/")] + name + [0]
      let fd = path.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o600) }
      }
      try #require(fd >= 0)
      close(fd)
      guard case .badName = refusal(fixture) else {
        Issue.record("\(name) not refused")
        continue
      }
    }
  }

  @Test("paths past 216 bytes (a huge name, or deep folders) are refused; 216 bytes are packed")
  func pathLength() throws {
    let huge = try SiteFixture()
    try huge.write(String(repeating: "n", count: 255), "x")
    #expect(
      refusal(huge) == .pathTooLong(path: huge.site + "/" + String(repeating: "n", count: 255), length: 256, limit: 216)
    )

    let deep = try SiteFixture()
    try deep.write(Array(repeating: "abcdefghi", count: 30).joined(separator: "/"), "x")
    guard case .pathTooLong = refusal(deep) else {
      Issue.record("deep path not refused")
      return
    }

    let longest = try SiteFixture()
    let name = String(repeating: "m", count: 215)  // "/" + 215 bytes = 216
    try longest.write(name, "x")
    try longest.pack()
    #expect(DecodedSiteImage(try longest.imageBytes()).lookup("/" + name) != nil)
  }

  @Test("more files, a larger file or a larger image than the limits are refused")
  func limits() throws {
    let many = try SiteFixture()
    for index in 0..<4 { try many.write("\(index)", "x") }
    #expect(
      refusal(many, SiteImageLimits(pathLength: 216, files: 3, fileSize: 1 << 30, imageSize: 1 << 32))
        == .tooManyFiles(limit: 3))
    try many.pack(SiteImageLimits(pathLength: 216, files: 4, fileSize: 1 << 30, imageSize: 1 << 32))

    let large = try SiteFixture()
    try large.write("big", Self.content(101, seed: 0))
    #expect(
      refusal(large, SiteImageLimits(pathLength: 216, files: 10, fileSize: 100, imageSize: 1 << 32))
        == .fileTooLarge(path: large.site + "/big", size: 101, limit: 100))

    let total = try SiteFixture()
    try total.write("a", Self.content(4096, seed: 1))
    try total.write("b", Self.content(1, seed: 2))
    // header + hash block + entry block + 2 data blocks = 5 blocks.
    #expect(
      refusal(total, SiteImageLimits(pathLength: 216, files: 10, fileSize: 1 << 30, imageSize: 4 * 4096))
        == .imageTooLarge(bytes: 5 * 4096, limit: 4 * 4096))
    try total.pack(SiteImageLimits(pathLength: 216, files: 10, fileSize: 1 << 30, imageSize: 5 * 4096))
  }

  @Test("a missing site, a file as the site, and an output inside the site are refused")
  func badArguments() throws {
    let fixture = try SiteFixture()
    try fixture.write("index.html", "x")
    #expect(throws: SiteImageError.notADirectory(path: fixture.root + "/missing")) {
      try SiteImagePacker.pack(directory: fixture.root + "/missing", output: fixture.image)
    }
    #expect(throws: SiteImageError.notADirectory(path: fixture.site + "/index.html")) {
      try SiteImagePacker.pack(directory: fixture.site + "/index.html", output: fixture.image)
    }
    #expect(throws: SiteImageError.outputInsideSite(path: fixture.site + "/site.img")) {
      try SiteImagePacker.pack(directory: fixture.site, output: fixture.site + "/site.img")
    }
    #expect(throws: SiteImageError.self) {
      try SiteImagePacker.pack(directory: fixture.site, output: fixture.root + "/no/such/dir/site.img")
    }
  }
}

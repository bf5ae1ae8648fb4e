// PackedSite.swift: a site directory packed with `denalid disk pack`, and the site-check guest run over it (or over a
// damaged copy of its image), for the site-image and HTTP tests.
import Foundation
import Testing

/// A temporary site directory and its image, removed when this goes away.
final class PackedSite {
  /// The temporary directory holding `site/` and `site.img`.
  let root: String
  /// The site directory.
  var site: String { root + "/site" }
  /// The packed image.
  var image: String { root + "/site.img" }

  /// Writes `files` (path below the site directory to content) and packs them; records an issue if packing fails.
  init(_ files: [String: [UInt8]]) throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("denali-site-\(UUID().uuidString)").path
    for (path, bytes) in files {
      let url = URL(fileURLWithPath: site + "/" + path)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(bytes).write(to: url)
    }
    try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
    let packed = try Denalid.run(["disk", "pack", site, "-o", image])
    #expect(packed.status == 0, "disk pack: \(packed.stderr)")
  }

  deinit { try? FileManager.default.removeItem(atPath: root) }

  /// Runs site-check with `arguments` over `disk` (default: the image), attached read-only.
  func check(_ arguments: [String], disk: String? = nil) throws -> DenalidResult {
    try Denalid.run(["run", Denalid.guest("site-check"), "--disk", disk ?? image, "--disk-readonly", "--"] + arguments)
  }

  /// The image's bytes.
  func imageBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: image))) }

  /// Writes `bytes` as a new disk file beside the image; returns its path.
  func disk(_ name: String, _ bytes: [UInt8]) throws -> String {
    let path = root + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }
}

/// The site-image format's numbers, written from Docs/GUESTS.md for tests that read or damage images.
enum SiteFormat {
  /// FNV-1a 64 over bytes: the path hash.
  static func pathHash(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
  }

  /// FNV-1a over 64-bit little-endian words, the last zero-padded: the content and header checksum.
  static func checksum(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for start in stride(from: 0, to: bytes.count, by: 8) {
      var word: UInt64 = 0
      for index in start..<min(start + 8, bytes.count) { word |= UInt64(bytes[index]) << (8 * UInt64(index - start)) }
      hash = (hash ^ word) &* 0x100_0000_01b3
    }
    return hash
  }

  /// The little-endian integer of `width` bytes at `offset`.
  static func load(_ bytes: [UInt8], _ offset: Int, width: Int = 8) -> UInt64 {
    (0..<width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
  }

  /// Stores `value` little-endian in `width` bytes at `offset`.
  static func store(_ value: UInt64, in bytes: inout [UInt8], at offset: Int, width: Int = 8) {
    for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
  }

  /// Recomputes the header checksum after an edit of block 0.
  static func resealHeader(_ bytes: inout [UInt8]) {
    store(0, in: &bytes, at: 24)
    store(checksum(Array(bytes[0..<4096])), in: &bytes, at: 24)
  }

  /// The byte offset of the entry whose path is `path`.
  static func entryOffset(_ bytes: [UInt8], path: String) -> Int? {
    let files = Int(load(bytes, 12, width: 4))
    let entries = 4096 * (1 + (files + 511) / 512)
    return (0..<files).map { entries + 256 * $0 }.first { entry in
      let length = Int(load(bytes, entry + 32, width: 2))
      return Array(bytes[(entry + 40)..<(entry + 40 + length)]) == Array(path.utf8)
    }
  }
}

// SiteImageTests.swift: `denalid disk pack` from the command line, and Ilwaco's site-image reader in real guests:
// lookups, whole-file and ranged reads checked against the host's files, and every kind of damaged image refused
// cleanly (never a fault).
import Foundation
import Testing

@Suite("Site images")
struct SiteImageTests {
  /// Bytes that differ per file and per position.
  static func content(_ size: Int, seed: UInt8) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8) ^ seed }
  }

  /// The files of the test site.
  static let files: [String: [UInt8]] = [
    "index.html": Array("<h1>hello</h1>\n".utf8), "empty.txt": [], "one": [7], "a/b/c.css": content(4095, seed: 1),
    "a/block.bin": content(4096, seed: 2), "a/over.js": content(4097, seed: 3), "big.png": content(300_000, seed: 4),
    "é 100%.json": content(33, seed: 5),
  ]

  /// site-check's line for a file that is there.
  static func lookupLine(_ path: String, _ bytes: [UInt8], type: String) -> String {
    "/\(path): size \(bytes.count) type \(type) checksum 0x\(String(SiteFormat.checksum(bytes), radix: 16)) ok"
  }

  @Test("disk pack prints a summary; refusals exit 2 and host failures exit 1, each with a one-line message")
  func packCommand() throws {
    guard Denalid.ready(guests: []) else { return }
    let site = try PackedSite(["index.html": [1, 2, 3], "sub/x.css": [4]])
    let again = try Denalid.run(["disk", "pack", site.site, "-o", site.image])
    #expect(again.status == 0)
    #expect(again.stdout == "\(site.image): 2 files, 4 bytes, 5 blocks of 4096\n")

    try FileManager.default.createSymbolicLink(atPath: site.site + "/passwd", withDestinationPath: "/etc/passwd")
    let escape = try Denalid.run(["disk", "pack", site.site, "-o", site.root + "/other.img"])
    #expect(escape.status == 2)
    #expect(
      escape.stderr.contains("passwd: symbolic link to /etc/passwd, outside the site directory"), "\(escape.stderr)")
    #expect(escape.stderr.split(separator: "\n").count == 1)
    #expect(!FileManager.default.fileExists(atPath: site.root + "/other.img"))

    let missing = try Denalid.run(["disk", "pack", site.root + "/nowhere", "-o", site.root + "/other.img"])
    #expect(missing.status == 2 && missing.stderr.contains("not a directory"))
    try FileManager.default.removeItem(atPath: site.site + "/passwd")
    let unwritable = try Denalid.run(["disk", "pack", site.site, "-o", site.root + "/no/such/dir/x.img"])
    #expect(unwritable.status == 1 && unwritable.stderr.contains("failed"), "\(unwritable.stderr)")
    let usage = try Denalid.run(["disk", "pack", site.site])
    #expect(usage.status == 2)
  }

  @Test("lookups find every file, with its size, type and a checksum of its content read in 1000-byte pieces")
  func lookups() throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    let site = try PackedSite(Self.files)
    let types = [
      "index.html": "text/html; charset=utf-8", "empty.txt": "text/plain; charset=utf-8",
      "one": "application/octet-stream",
      "a/b/c.css": "text/css; charset=utf-8", "a/block.bin": "application/octet-stream",
      "a/over.js": "text/javascript; charset=utf-8", "big.png": "image/png", "é 100%.json": "application/json",
    ]
    let paths = Self.files.keys.sorted()
    let result = try site.check(
      ["lookup"] + paths.map { "/" + $0 } + ["/missing", "/", "/a", "/A/b/c.css", "/index.html/"])
    #expect(result.status == 0, "\(result.stdout)")
    let expected =
      paths.map { Self.lookupLine($0, Self.files[$0] ?? [], type: types[$0] ?? "?") } + [
        "/missing: not found", "/: not found", "/a: not found", "/A/b/c.css: not found", "/index.html/: not found",
      ]
    #expect(result.stdout.split(separator: "\n").map(String.init) == expected)

    let info = try site.check(["info"])
    // Header, hash and entry tables, then the files' blocks in path order.
    let blocks = 3 + paths.reduce(0) { $0 + ((Self.files[$1]?.count ?? 0) + 4095) / 4096 }
    #expect(blocks == 84)
    #expect(info.stdout == "site-check: 8 files, \(blocks) blocks\n")
    let list = try site.check(["list"])
    #expect(
      Set(list.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) })
        == Set(
          paths.map { "/" + $0.split(separator: " ")[0] }))
  }

  @Test(
    "ranges read across block edges and in 64-block requests match the file",
    arguments: [
      (0, 262_144), (4096, 262_144), (1, 262_144), (0, 300_000), (5, 400_000), (4095, 2), (299_999, 10), (300_000, 10),
      (100, 0), (8191, 4097),
    ])
  func ranges(offset: Int, length: Int) throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    let site = try PackedSite(["big.png": Self.files["big.png"] ?? []])
    let bytes = Self.files["big.png"] ?? []
    let slice = Array(bytes[min(offset, bytes.count)..<min(offset + length, bytes.count)])
    let result = try site.check(["range", "/big.png", "\(offset)", "\(length)"])
    #expect(result.status == 0)
    #expect(
      result.stdout == "range: \(slice.count) bytes checksum 0x\(String(SiteFormat.checksum(slice), radix: 16))\n")
  }

  /// A damaged copy of the test site's image and what site-check must say about it.
  struct Damage: CustomStringConvertible, Sendable {
    let description: String
    let edit: @Sendable (inout [UInt8]) -> Void
    let arguments: [String]
    let status: Int32
    let output: String
  }

  static let damages: [Damage] = [
    Damage(
      description: "bad magic", edit: { $0[0] ^= 1 }, arguments: ["info"], status: 4,
      output: "site-check: bad image: not a site image (bad magic)\n"),
    Damage(
      description: "unknown version", edit: { SiteFormat.store(2, in: &$0, at: 8, width: 4) }, arguments: ["info"],
      status: 4, output: "site-check: bad image: unknown version 2\n"),
    Damage(
      description: "header checksum", edit: { $0[40] = 1 }, arguments: ["info"], status: 4,
      output: "site-check: bad image: header checksum mismatch\n"),
    Damage(
      description: "file count too large",
      edit: {
        SiteFormat.store(70_000, in: &$0, at: 12, width: 4)
        SiteFormat.resealHeader(&$0)
      }, arguments: ["info"], status: 4, output: "site-check: bad image: file count out of range 70000\n"),
    Damage(
      description: "total below the tables",
      edit: {
        SiteFormat.store(2, in: &$0, at: 16)
        SiteFormat.resealHeader(&$0)
      }, arguments: ["info"], status: 4, output: "site-check: bad image: image size out of range 2\n"),
    Damage(
      description: "total above the format's limit",
      edit: {
        SiteFormat.store(1 << 40, in: &$0, at: 16)
        SiteFormat.resealHeader(&$0)
      }, arguments: ["info"], status: 4, output: "site-check: bad image: image size out of range 1099511627776\n"),
    Damage(
      description: "truncated", edit: { $0.removeLast(4096 * 2) }, arguments: ["info"], status: 4,
      output: "site-check: bad image: image larger than the disk (truncated): 84 blocks, disk 82\n"),
    Damage(
      description: "zeros", edit: { $0 = [UInt8](repeating: 0, count: 8192) }, arguments: ["info"], status: 4,
      output: "site-check: bad image: not a site image (bad magic)\n"),
    Damage(
      description: "data past the end",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/one") else { return }
        SiteFormat.store(84, in: &image, at: entry + 8)
      }, arguments: ["lookup", "/index.html", "/one"], status: 1, output: "INDEX\nsite-check: entry out of range *\n"),
    Damage(
      description: "data running past the end",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/big.png") else { return }
        let first = SiteFormat.load(image, entry + 8)
        SiteFormat.store((84 - first) * 4096 + 1, in: &image, at: entry + 16)
      }, arguments: ["lookup", "/big.png"], status: 1, output: "site-check: entry out of range *\n"),
    Damage(
      description: "huge size",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/one") else { return }
        SiteFormat.store(1 << 62, in: &image, at: entry + 16)
      }, arguments: ["lookup", "/one"], status: 1, output: "site-check: entry out of range *\n"),
    Damage(
      description: "data in the tables",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/one") else { return }
        SiteFormat.store(0, in: &image, at: entry + 8)
      }, arguments: ["lookup", "/one"], status: 1, output: "site-check: entry out of range *\n"),
    Damage(
      description: "path length zero",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/one") else { return }
        SiteFormat.store(0, in: &image, at: entry + 32, width: 2)
      }, arguments: ["lookup", "/one"], status: 1, output: "site-check: entry out of range *\n"),
    Damage(
      description: "path length past the field",
      edit: { image in
        guard let entry = SiteFormat.entryOffset(image, path: "/one") else { return }
        SiteFormat.store(0xFFFF, in: &image, at: entry + 32, width: 2)
      }, arguments: ["list"], status: 1, output: "*site-check: entry out of range *\n"),
    Damage(
      description: "hash table garbage",
      edit: { image in
        for index in 4096..<8192 { image[index] = UInt8(truncatingIfNeeded: index &* 7) }
      }, arguments: ["lookup", "/one", "/index.html"], status: 0, output: "/one: not found\n/index.html: not found\n"),
    Damage(
      description: "fence garbage",
      edit: { image in
        for index in 64..<(64 + 8 * 128) { image[index] = 0xFF }
        SiteFormat.resealHeader(&image)
      }, arguments: ["lookup", "/one"], status: 0, output: "/one: not found\n"),
  ]

  @Test("a damaged image is refused at open or at the damaged entry, never with a fault", arguments: damages)
  func damaged(_ damage: Damage) throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    let site = try PackedSite(Self.files)
    var bytes = try site.imageBytes()
    #expect(bytes.count == 84 * 4096)
    damage.edit(&bytes)
    let result = try site.check(damage.arguments, disk: try site.disk("damaged.img", bytes))
    #expect(result.status == damage.status, "\(result.stdout)")
    let expected = damage.output.replacingOccurrences(
      of: "INDEX\n",
      with: Self.lookupLine("index.html", Self.files["index.html"] ?? [], type: "text/html; charset=utf-8") + "\n")
    #expect(Self.matches(result.stdout, expected), "\(result.stdout) is not \(expected)")
  }

  @Test("a disk that is not an image, and no disk at all, are reported")
  func noImage() throws {
    guard Denalid.ready(guests: ["site-check"]) else { return }
    let site = try PackedSite(["x": [1]])
    var random = SystemRandomNumberGenerator()
    let noise = (0..<(16 * 4096)).map { _ in UInt8.random(in: 0...255, using: &random) }
    let result = try site.check(["lookup", "/x"], disk: try site.disk("noise.img", noise))
    #expect(result.status == 4 && result.stdout.hasPrefix("site-check: bad image: "))
    let none = try Denalid.run(["run", Denalid.guest("site-check"), "--", "info"])
    #expect(none.status == 3 && none.stdout == "site-check: no disk\n")
  }

  /// True when `text` equals `pattern`, where each `*` in the pattern stands for any run of characters.
  static func matches(_ text: String, _ pattern: String) -> Bool {
    let parts = pattern.components(separatedBy: "*")
    guard parts.count > 1 else { return text == pattern }
    guard text.hasPrefix(parts[0]), text.hasSuffix(parts[parts.count - 1]) else { return false }
    var rest = text.dropFirst(parts[0].count)
    for part in parts.dropFirst().dropLast() where !part.isEmpty {
      guard let range = rest.range(of: part) else { return false }
      rest = rest[range.upperBound...]
    }
    return rest.count >= parts[parts.count - 1].count
  }
}

// WebSite.swift: the site every VM of `denali-bench web` serves: a few documents of 1 KiB to 64 KiB with known
// contents, packed into one site image that all the VMs share read-only.
import DenaliCore
import Foundation

/// The documents of the web benchmark's site, by popularity rank (rank 0, the smallest, the most requested).
struct WebSite: Sendable {
  /// One document: its path and its exact bytes (what every response must carry).
  struct Document: Sendable {
    /// The request path, such as `/doc-1k.html`.
    let path: String
    /// The body every response must have.
    let body: [UInt8]
  }

  /// The documents, most popular first.
  let documents: [Document]

  /// The default site: 1, 2, 4, 16 and 64 KiB.
  static let defaultKiB = [1, 2, 4, 16, 64]

  /// A site of documents of these sizes in KiB (rank order).
  init(kib sizes: [Int] = defaultKiB) {
    documents = sizes.enumerated().map { index, kib in
      Document(path: "/doc-\(kib)k.html", body: Self.contents(document: index, size: kib * 1024))
    }
  }

  /// Printable text unique to each document and offset: a line of 63 letters and a newline, repeated.
  static func contents(document: Int, size: Int) -> [UInt8] {
    (0..<size).map { (offset: Int) -> UInt8 in
      if offset % 64 == 63 { return 10 }
      let letter: Int = (offset &* 7 &+ document &* 13 &+ (offset >> 9)) % 26
      return UInt8(97 + letter)
    }
  }

  /// Writes the documents into `directory` and packs them into the site image at `image` (`denalid disk pack`'s
  /// format); returns the image's size in bytes.
  func pack(into directory: String, image: String) throws -> Int {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for document in documents {
      try Data(document.body).write(to: URL(fileURLWithPath: directory + document.path))
    }
    _ = try SiteImagePacker.pack(directory: directory, output: image)
    let attributes = try FileManager.default.attributesOfItem(atPath: image)
    return (attributes[.size] as? NSNumber)?.intValue ?? 0
  }
}

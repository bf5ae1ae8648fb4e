// SiteFile.swift: one file of a site image, as its checked entry describes it.

/// A file in a `SiteImage`: what `lookup` or `file(at:)` found. Its fields were checked against the image.
public struct SiteFile {
  /// Its position in the image's entry table (0..<fileCount).
  public let index: Int
  /// Bytes of content.
  public let size: UInt64
  /// Its `DENALI_SITE_TYPE_*` code (see `HTTPContentType`).
  public let contentType: UInt8
  /// The word checksum of its content, as the packer recorded it.
  public let checksum: UInt64
  /// The block its content starts at.
  let firstBlock: UInt64
}

// PageBitmap.swift: one bit per 4 KiB guest page, as KVM's dirty log and the host-write log keep them.

/// A set of guest pages, one bit each, in 64-bit words (the layout of KVM's dirty bitmap).
public struct PageBitmap: Sendable, Equatable {
  /// The bits: page `i` is bit `i % 64` of word `i / 64`.
  public var words: [UInt64]
  /// Number of pages covered.
  public let pageCount: Int

  /// An empty set covering `pageCount` pages.
  public init(pageCount: Int) {
    self.pageCount = pageCount
    words = Array(repeating: 0, count: (pageCount + 63) / 64)
  }

  /// A set with every page in it.
  public static func all(pageCount: Int) -> PageBitmap {
    var bitmap = PageBitmap(pageCount: pageCount)
    for page in 0..<pageCount { bitmap.insert(page) }
    return bitmap
  }

  /// True when `page` is in the set.
  public func contains(_ page: Int) -> Bool {
    page >= 0 && page < pageCount && words[page >> 6] & (1 << UInt64(page & 63)) != 0
  }

  /// Adds `page` (ignored when out of range).
  public mutating func insert(_ page: Int) {
    guard page >= 0, page < pageCount else { return }
    words[page >> 6] |= 1 << UInt64(page & 63)
  }

  /// Adds every page of `other` (which must cover the same pages).
  public mutating func formUnion(_ other: PageBitmap) {
    for index in words.indices where index < other.words.count { words[index] |= other.words[index] }
  }

  /// Number of pages in the set.
  public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
}

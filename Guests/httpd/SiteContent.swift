// SiteContent.swift: what httpd serves: the files of the site image on its disk, or with no disk a built-in page.
import Ilwaco

/// A file httpd can send: its size and type, and where its bytes come from.
struct Resource {
  /// Bytes of content.
  let size: UInt64
  /// The Content-Type value.
  let contentType: StaticString
  /// The site-image file, or nil for the built-in page.
  let file: SiteFile?
}

/// The content of this server.
final class SiteContent {
  /// The site image, or nil: then only the built-in page exists, at "/" (and "/index.html").
  let image: SiteImage?
  /// The path to look up: a request's path with index.html after a final '/'.
  private let target: UnsafeMutableRawPointer

  /// The page served without a disk.
  static let builtInPage: StaticString = """
    <!doctype html>
    <html><head><title>Denali</title></head>
    <body><h1>Hello from Denali</h1><p>httpd on Ilwaco, served without a site image.</p></body></html>

    """

  /// Content from `image` (nil: the built-in page).
  init(image: SiteImage?) {
    self.image = image
    target = .allocate(byteCount: Int(DENALI_SITE_PATH_MAX), alignment: 8)
  }

  deinit { target.deallocate() }

  /// The resource at `path` (a request's decoded path), or nil.
  func resolve(_ path: UnsafeRawBufferPointer) throws(SiteImageError) -> Resource? {
    guard let base = path.baseAddress, path.count > 0 else { return nil }
    let index: StaticString = "index.html"
    let endsInSlash = base.load(fromByteOffset: path.count &- 1, as: UInt8.self) == 0x2F
    let length = path.count &+ (endsInSlash ? index.utf8CodeUnitCount : 0)
    guard length <= Int(DENALI_SITE_PATH_MAX) else { return nil }
    // SAFETY: length <= DENALI_SITE_PATH_MAX, the target buffer's size.
    target.copyMemory(from: base, byteCount: path.count)
    if endsInSlash { (target + path.count).copyMemory(from: index.utf8Start, byteCount: index.utf8CodeUnitCount) }
    guard let image else {
      let home: StaticString = "/index.html"
      guard length == home.utf8CodeUnitCount, memcmp(target, home.utf8Start, length) == 0 else { return nil }
      return Resource(
        size: UInt64(Self.builtInPage.utf8CodeUnitCount),
        contentType: HTTPContentType.name(code: UInt8(DENALI_SITE_TYPE_HTML)), file: nil)
    }
    guard let file = try image.lookup(target, count: length) else { return nil }
    return Resource(size: file.size, contentType: HTTPContentType.name(code: file.contentType), file: file)
  }

  /// Copies up to `count` bytes of `resource` from `offset` into `buffer`; returns how many.
  func read(_ resource: Resource, from offset: UInt64, into buffer: UnsafeMutableRawPointer, count: Int)
    throws(SiteImageError) -> Int
  {
    if let file = resource.file, let image { return try image.read(file, from: offset, into: buffer, count: count) }
    let page = Self.builtInPage
    guard offset < UInt64(page.utf8CodeUnitCount) else { return 0 }
    let taken = min(count, page.utf8CodeUnitCount &- Int(offset))
    // SAFETY: offset + taken <= the page's length; the caller's buffer holds count >= taken bytes.
    buffer.copyMemory(from: page.utf8Start + Int(offset), byteCount: taken)
    return taken
  }
}

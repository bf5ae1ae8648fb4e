// SiteContentType.swift: a file's content type in a site image, chosen by its name's extension at pack time.
import DenaliABI

/// The content-type codes of `denali/site_image.h` (the guest maps each to its MIME type).
public enum SiteContentType {
  /// Lower-case extension to code; anything else is application/octet-stream.
  static let byExtension: [String: UInt32] = [
    "html": DENALI_SITE_TYPE_HTML, "htm": DENALI_SITE_TYPE_HTML, "txt": DENALI_SITE_TYPE_TEXT,
    "css": DENALI_SITE_TYPE_CSS, "js": DENALI_SITE_TYPE_JAVASCRIPT, "mjs": DENALI_SITE_TYPE_JAVASCRIPT,
    "json": DENALI_SITE_TYPE_JSON, "png": DENALI_SITE_TYPE_PNG, "jpg": DENALI_SITE_TYPE_JPEG,
    "jpeg": DENALI_SITE_TYPE_JPEG, "gif": DENALI_SITE_TYPE_GIF, "svg": DENALI_SITE_TYPE_SVG,
    "ico": DENALI_SITE_TYPE_ICON, "webp": DENALI_SITE_TYPE_WEBP, "woff": DENALI_SITE_TYPE_WOFF,
    "woff2": DENALI_SITE_TYPE_WOFF2, "pdf": DENALI_SITE_TYPE_PDF, "xml": DENALI_SITE_TYPE_XML,
    "wasm": DENALI_SITE_TYPE_WASM,
  ]

  /// The code for a file named `name` (its last component): by the extension after the last dot, ignoring case.
  public static func code(forName name: String) -> UInt8 {
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return UInt8(DENALI_SITE_TYPE_OCTET_STREAM) }
    let fileExtension = name[name.index(after: dot)...].lowercased()
    return UInt8(byExtension[fileExtension] ?? DENALI_SITE_TYPE_OCTET_STREAM)
  }
}

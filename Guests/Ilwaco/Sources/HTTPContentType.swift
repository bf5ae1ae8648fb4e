// HTTPContentType.swift: the Content-Type of each site-image content-type code (DENALI_SITE_TYPE_*).

/// MIME types for the content-type codes a site image stores per file (chosen by extension at pack time).
public enum HTTPContentType {
  /// The Content-Type value for `code`; application/octet-stream for an unknown code.
  public static func name(code: UInt8) -> StaticString {
    switch UInt32(code) {
    case DENALI_SITE_TYPE_HTML: "text/html; charset=utf-8"
    case DENALI_SITE_TYPE_TEXT: "text/plain; charset=utf-8"
    case DENALI_SITE_TYPE_CSS: "text/css; charset=utf-8"
    case DENALI_SITE_TYPE_JAVASCRIPT: "text/javascript; charset=utf-8"
    case DENALI_SITE_TYPE_JSON: "application/json"
    case DENALI_SITE_TYPE_PNG: "image/png"
    case DENALI_SITE_TYPE_JPEG: "image/jpeg"
    case DENALI_SITE_TYPE_GIF: "image/gif"
    case DENALI_SITE_TYPE_SVG: "image/svg+xml"
    case DENALI_SITE_TYPE_ICON: "image/x-icon"
    case DENALI_SITE_TYPE_WEBP: "image/webp"
    case DENALI_SITE_TYPE_WOFF: "font/woff"
    case DENALI_SITE_TYPE_WOFF2: "font/woff2"
    case DENALI_SITE_TYPE_PDF: "application/pdf"
    case DENALI_SITE_TYPE_XML: "application/xml"
    case DENALI_SITE_TYPE_WASM: "application/wasm"
    default: "application/octet-stream"
    }
  }
}

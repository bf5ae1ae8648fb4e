// HTTPRequestParser.swift: an incremental HTTP/1.x request parser for a GET/HEAD file server, independent of the
// transport: bytes go in as they arrive, in pieces of any size, and each complete request comes out with the
// number of bytes it used, so pipelined requests stay apart. Lean on guest instructions (every one is emulated
// here at about 0.8 us): lines and separators are found with `repne scasb` (one emulated instruction each),
// a head that arrives whole is parsed where it lies, and only the path is walked byte by byte.

/// What one `parse` call found.
public enum HTTPParseResult {
  /// Every byte was used and no request is complete yet: feed more.
  case needMore
  /// A complete request; its path lives in the parser until the next `parse`.
  case request(HTTPRequest)
  /// The request is refused with this status; answer it and close the connection (the parser stays failed).
  case failure(HTTPStatus)
}

/// Parses the requests of one connection. Memory: a head buffer (`limits.head` bytes), a path buffer
/// (`limits.requestLine` bytes) and a line table (`limits.lines` entries), allocated once.
///
/// Statuses, checked in this order: 414 request line too long; 431 head too long or too many lines; 400
/// malformed request line (not `METHOD SP TARGET SP HTTP/d.d`); 505 major version not 1; 405 a method other
/// than GET and HEAD (400 if it is not even a token); 400 malformed field line (folded, no colon, empty name,
/// whitespace before the colon), missing or repeated Host in HTTP/1.1, bad or conflicting Content-Length,
/// both Content-Length and Transfer-Encoding; 501 Transfer-Encoding; 413 body over the limit; 400 bad target
/// (not origin- or absolute-form, a byte outside 0x21-0x7e, '#', a bad or NUL/control percent escape, a
/// backslash, a "." or ".." segment, raw or encoded). Fields other than Host, Connection, Content-Length and
/// Transfer-Encoding are not inspected past their name's ends. Lines may end in CRLF or a bare LF; empty
/// lines before a request line are skipped.
public final class HTTPRequestParser {
  /// The limits this parser enforces.
  public let limits: HTTPParserLimits
  /// A head that arrived in pieces, gathered until its empty line.
  private let head: UnsafeMutableRawPointer
  /// Bytes in `head`.
  private var buffered = 0
  /// Offsets of the line feeds found so far in the current head (the one buffered, or the one being parsed).
  private let lineEnds: UnsafeMutablePointer<Int32>
  private var lineCount = 0
  /// Where the line-feed search resumes in the current head.
  private var scanFrom = 0
  /// The decoded path of the last request.
  private let path: UnsafeMutableRawPointer
  /// Body bytes of the last request still to be skipped.
  private var bodyRemaining: UInt64 = 0
  /// Set once a request is refused: every later call returns it.
  private var failed: HTTPStatus?

  /// A parser for a new connection.
  public init(limits: HTTPParserLimits = HTTPParserLimits()) {
    self.limits = limits
    head = .allocate(byteCount: limits.head, alignment: 16)
    lineEnds = .allocate(capacity: limits.lines)
    path = .allocate(byteCount: limits.requestLine, alignment: 16)
  }

  deinit {
    head.deallocate()
    lineEnds.deallocate()
    path.deallocate()
  }

  /// True when no part of a request is held (between requests): a connection idle here may be closed quietly.
  public var isBetweenRequests: Bool { buffered == 0 && bodyRemaining == 0 && failed == nil }

  /// Forgets everything, for a new connection.
  public func reset() {
    buffered = 0
    lineCount = 0
    scanFrom = 0
    bodyRemaining = 0
    failed = nil
  }

  /// Parses from the `count` bytes at `bytes`; returns what it found and how many of the bytes it used (the rest
  /// belong to later requests: pass them again). Stops after one request.
  public func parse(_ bytes: UnsafeRawPointer, count: Int) -> (result: HTTPParseResult, consumed: Int) {
    if let failed { return (.failure(failed), 0) }
    var used = 0
    if bodyRemaining > 0 {
      let skip = Int(min(UInt64(count), bodyRemaining))
      bodyRemaining -= UInt64(skip)
      used = skip
    }
    if buffered == 0 {
      // SAFETY: used < count while reading.
      while used < count,
        bytes.load(fromByteOffset: used, as: UInt8.self) == Self.cr
          || bytes.load(fromByteOffset: used, as: UInt8.self) == Self.lf
      {
        used += 1
      }
      if used == count { return (.needMore, used) }
      // The common case: the whole head is in this piece; parse it where it lies.
      let input = bytes + used
      let available = count - used
      switch scanHead(input, length: min(available, limits.head)) {
      case .complete(let end, let lines):
        return (finish(parseLines(input, lines: lines)), used + end)
      case .failed(let status):
        return (fail(status), used)
      case .incomplete:
        // SAFETY: scanHead would have failed had available reached limits.head, so it fits in head.
        head.copyMemory(from: input, byteCount: available)
        buffered = available
        return (.needMore, count)
      }
    }
    let old = buffered
    let take = min(count - used, limits.head - buffered)
    // SAFETY: buffered + take <= limits.head, the head buffer's size; used + take <= count.
    (head + buffered).copyMemory(from: bytes + used, byteCount: take)
    buffered += take
    switch scanHead(UnsafeRawPointer(head), length: buffered) {
    case .complete(let end, let lines):
      buffered = 0
      return (finish(parseLines(UnsafeRawPointer(head), lines: lines)), used + end - old)
    case .failed(let status):
      return (fail(status), used)
    case .incomplete:
      return (.needMore, used + take)
    }
  }

  // MARK: - Finding the head

  /// What the search for a head's empty line found.
  private enum HeadScan {
    /// The head ends before `end`; `lines` line feeds before its empty line are in lineEnds.
    case complete(end: Int, lines: Int)
    /// No empty line yet.
    case incomplete
    /// Too long.
    case failed(HTTPStatus)
  }

  /// Continues the search for the empty line that ends the head in `base[0..<length]`, recording line ends.
  private func scanHead(_ base: UnsafeRawPointer, length: Int) -> HeadScan {
    var lines = lineCount
    var from = scanFrom
    // The start of the line after the last recorded one (0 for the request line).
    var start = lines == 0 ? 0 : Int(lineEnds[lines &- 1]) &+ 1
    while true {
      // SAFETY: from <= length, so the search stays in base[from..<length].
      guard let found = ilwaco_find_byte(base + from, length &- from, Self.lf) else {
        lineCount = lines
        scanFrom = length
        if lines == 0 && length >= limits.requestLine { return .failed(.uriTooLong) }
        if length >= limits.head { return .failed(.headersTooLarge) }
        return .incomplete
      }
      let index = found - base
      if lines == 0 {
        if index >= limits.requestLine { return .failed(.uriTooLong) }
      } else if index == start || (index == start &+ 1 && base.load(fromByteOffset: start, as: UInt8.self) == Self.cr) {
        // SAFETY (above): start < index, so base[start] is inside the head.
        lineCount = 0  // the next head starts afresh; these lines stay in lineEnds for parseLines
        scanFrom = 0
        return .complete(end: index &+ 1, lines: lines)
      }
      guard lines < limits.lines &- 1 else { return .failed(.headersTooLarge) }
      // SAFETY: lines < limits.lines, the table's capacity; index < limits.head fits in 32 bits.
      lineEnds[lines] = Int32(truncatingIfNeeded: index)
      lines &+= 1
      start = index &+ 1
      from = start
    }
  }

  // MARK: - Parsing a complete head

  /// Records a failure (the parser stays failed) or passes a request on.
  private func finish(_ result: HTTPParseResult) -> HTTPParseResult {
    if case .failure(let status) = result { failed = status }
    return result
  }

  /// Records `status` as the parser's failure.
  private func fail(_ status: HTTPStatus) -> HTTPParseResult {
    failed = status
    return .failure(status)
  }

  /// The end of the line whose line feed is at `lineFeed`, without a CR before it.
  @inline(__always)
  private func contentEnd(_ base: UnsafeRawPointer, start: Int, lineFeed: Int) -> Int {
    // SAFETY: start <= lineFeed - 1 when the line is not empty, so the byte before the line feed is in it.
    lineFeed > start && base.load(fromByteOffset: lineFeed &- 1, as: UInt8.self) == Self.cr ? lineFeed &- 1 : lineFeed
  }

  /// Parses a complete head at `base`: request line and fields, whose `lines` line feeds (before the empty
  /// line) scanHead recorded in `lineEnds`.
  private func parseLines(_ base: UnsafeRawPointer, lines: Int) -> HTTPParseResult {
    // Request line: METHOD SP TARGET SP HTTP/d.d
    let lineEnd = contentEnd(base, start: 0, lineFeed: Int(lineEnds[0]))
    // SAFETY: every search below stays within base[0..<lineEnd].
    guard let space1 = ilwaco_find_byte(base, lineEnd, Self.space) else { return .failure(.badRequest) }
    let methodLength = space1 - base
    let targetStart = methodLength + 1
    guard let space2 = ilwaco_find_byte(base + targetStart, lineEnd - targetStart, Self.space) else {
      return .failure(.badRequest)
    }
    let targetEnd = space2 - base
    let versionStart = targetEnd + 1
    guard methodLength > 0, targetEnd > targetStart, lineEnd - versionStart == 8,
      base.loadUnaligned(fromByteOffset: versionStart, as: UInt32.self) == Self.httpSlashPrefix,
      base.load(fromByteOffset: versionStart + 4, as: UInt8.self) == 0x2F,
      base.load(fromByteOffset: versionStart + 6, as: UInt8.self) == 0x2E
    else { return .failure(.badRequest) }
    let major = base.load(fromByteOffset: versionStart + 5, as: UInt8.self) &- 0x30
    let minor = base.load(fromByteOffset: versionStart + 7, as: UInt8.self) &- 0x30
    guard major <= 9, minor <= 9 else { return .failure(.badRequest) }
    guard major == 1 else { return .failure(.versionNotSupported) }

    let method: HTTPMethod
    if methodLength == 3 && base.loadUnaligned(as: UInt32.self) & 0xFF_FFFF == Self.get {
      method = .get
    } else if methodLength == 4 && base.loadUnaligned(as: UInt32.self) == Self.headMethod {
      method = .head
    } else {
      return .failure(Self.isToken(base, count: methodLength) ? .methodNotAllowed : .badRequest)
    }

    // Header fields.
    var hosts = 0
    var close = false
    var keepAliveToken = false
    var contentLength: UInt64? = nil
    var transferEncoding = false
    var line = 1
    while line < lines {
      let start = Int(lineEnds[line &- 1]) &+ 1
      let stop = contentEnd(base, start: start, lineFeed: Int(lineEnds[line]))
      line &+= 1
      // SAFETY: start < stop (a recorded line is not empty), and every access below is in base[start..<stop].
      let first = base.load(fromByteOffset: start, as: UInt8.self)
      guard first != Self.space, first != Self.tab,
        let colon = ilwaco_find_byte(base + start, stop &- start, Self.colon)
      else { return .failure(.badRequest) }
      let nameEnd = colon - base
      guard nameEnd > start else { return .failure(.badRequest) }
      let last = base.load(fromByteOffset: nameEnd &- 1, as: UInt8.self)
      guard last != Self.space, last != Self.tab else { return .failure(.badRequest) }
      let name = base + start
      switch nameEnd &- start {
      case 4:
        if Self.equalsIgnoringCase(name, "host") { hosts += 1 }
      case 10:
        if Self.equalsIgnoringCase(name, "connection") {
          Self.connectionTokens(base, from: nameEnd + 1, to: stop, close: &close, keepAlive: &keepAliveToken)
        }
      case 14:
        if Self.equalsIgnoringCase(name, "content-length") {
          guard let value = Self.decimal(base, from: nameEnd + 1, to: stop),
            contentLength == nil || contentLength == value
          else { return .failure(.badRequest) }
          contentLength = value
        }
      case 17:
        if Self.equalsIgnoringCase(name, "transfer-encoding") { transferEncoding = true }
      default:
        break
      }
    }
    if hosts > 1 || (minor >= 1 && hosts == 0) { return .failure(.badRequest) }
    if transferEncoding { return .failure(contentLength == nil ? .notImplemented : .badRequest) }
    let body = contentLength ?? 0
    if body > limits.body { return .failure(.contentTooLarge) }

    guard let pathLength = decodeTarget(base, from: targetStart, to: targetEnd) else { return .failure(.badRequest) }
    bodyRemaining = body
    return .request(
      HTTPRequest(
        method: method, minorVersion: minor >= 1 ? 1 : 0,
        path: UnsafeRawBufferPointer(start: path, count: pathLength),
        keepAlive: !close && (minor >= 1 || keepAliveToken), contentLength: body))
  }

  // MARK: - The target

  /// Decodes the target `base[start..<end]` (origin-form, or absolute-form `http://authority/...`) into the path
  /// buffer (see `ilwaco_http_decode_path`); nil if it is refused. Returns the path's length.
  private func decodeTarget(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int? {
    var index = start
    // SAFETY: every access below is in base[start..<end], inside the request line; the decoded path (at most
    // end - index bytes) fits the path buffer of limits.requestLine bytes.
    if base.load(fromByteOffset: index, as: UInt8.self) != Self.slash {
      guard end &- index > 7, Self.equalsIgnoringCase(base + index, "http://") else { return nil }
      index &+= 7
      guard let slash = ilwaco_find_byte(base + index, end &- index, Self.slash) else {
        path.storeBytes(of: Self.slash, as: UInt8.self)  // no path after the authority: "/"
        return 1
      }
      guard slash - base > index else { return nil }  // an empty authority
      index = slash - base
    }
    let length = ilwaco_http_decode_path(
      (base + index + 1).assumingMemoryBound(to: UInt8.self), end &- index &- 1,
      path.assumingMemoryBound(to: UInt8.self))
    return length < 0 ? nil : length
  }

  // MARK: - Field values

  /// True when the bytes at `bytes` equal `name` ignoring the case of its letters. `name` has 4 or more bytes,
  /// each a lower-case letter or below 0x40 (digits, '-', ':', '/'), which must match exactly; the caller
  /// checked that as many bytes are there. Compares 4 or 8 bytes at a time.
  @inline(__always)
  private static func equalsIgnoringCase(_ bytes: UnsafeRawPointer, _ name: StaticString) -> Bool {
    let count = name.utf8CodeUnitCount
    let pattern = UnsafeRawPointer(name.utf8Start)
    // A pattern byte with bit 6 set is a letter: its input byte may differ in bit 5 (case) only.
    if count < 8 {
      // SAFETY: two 4-byte words at 0 and count - 4 cover the 4...7 bytes of both.
      let first = pattern.loadUnaligned(as: UInt32.self)
      let last = pattern.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)
      return bytes.loadUnaligned(as: UInt32.self) | (first & 0x4040_4040) >> 1 == first
        && bytes.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self) | (last & 0x4040_4040) >> 1 == last
    }
    var offset = 0
    while true {
      // SAFETY: offset <= count - 8: 8-byte words at 0, 8, ... and a last one at count - 8 cover both.
      let word = pattern.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
      let input = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
      if input | (word & 0x4040_4040_4040_4040) >> 1 != word { return false }
      if offset == count &- 8 { return true }
      offset = min(offset &+ 8, count &- 8)
    }
  }

  /// Notes `close` and `keep-alive` among the comma-separated tokens of a Connection value in base[from..<to].
  private static func connectionTokens(
    _ base: UnsafeRawPointer, from start: Int, to end: Int, close: inout Bool, keepAlive: inout Bool
  ) {
    var index = start
    while index < end {
      // SAFETY: index < end, inside the field line.
      let byte = base.load(fromByteOffset: index, as: UInt8.self)
      if byte == space || byte == tab || byte == comma {
        index += 1
        continue
      }
      let tokenStart = index
      while index < end {
        let next = base.load(fromByteOffset: index, as: UInt8.self)
        if next == space || next == tab || next == comma { break }
        index += 1
      }
      let length = index - tokenStart
      if length == 5 && equalsIgnoringCase(base + tokenStart, "close") { close = true }
      if length == 10 && equalsIgnoringCase(base + tokenStart, "keep-alive") { keepAlive = true }
    }
  }

  /// The value in base[from..<to] as a decimal number between optional whitespace (at most 18 digits), or nil.
  private static func decimal(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> UInt64? {
    var index = start
    var stop = end
    // SAFETY: index and stop - 1 stay within start..<end.
    while index < stop,
      base.load(fromByteOffset: index, as: UInt8.self) == space
        || base.load(fromByteOffset: index, as: UInt8.self) == tab
    {
      index += 1
    }
    while stop > index,
      base.load(fromByteOffset: stop - 1, as: UInt8.self) == space
        || base.load(fromByteOffset: stop - 1, as: UInt8.self) == tab
    {
      stop -= 1
    }
    guard stop > index, stop - index <= 18 else { return nil }
    var value: UInt64 = 0
    while index < stop {
      let digit = base.load(fromByteOffset: index, as: UInt8.self) &- 0x30
      guard digit <= 9 else { return nil }
      value = value * 10 + UInt64(digit)
      index += 1
    }
    return value
  }

  /// True when the `count` bytes at `bytes` are a token (RFC 9110 tchar: visible ASCII but delimiters).
  private static func isToken(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
    for index in 0..<count {
      // SAFETY: index < count.
      let byte = bytes.load(fromByteOffset: index, as: UInt8.self)
      guard byte > 0x20, byte < 0x7F, ilwaco_find_byte(delimiters.utf8Start, delimiters.utf8CodeUnitCount, byte) == nil
      else { return false }
    }
    return true
  }

  // MARK: - Bytes

  static let cr: UInt8 = 0x0D
  static let lf: UInt8 = 0x0A
  static let space: UInt8 = 0x20
  static let tab: UInt8 = 0x09
  static let colon: UInt8 = 0x3A
  static let comma: UInt8 = 0x2C
  static let slash: UInt8 = 0x2F
  /// "HTTP" as a little-endian word.
  static let httpSlashPrefix: UInt32 = 0x5054_5448
  /// "GET" and "HEAD" as little-endian words.
  static let get: UInt32 = 0x54_4547
  static let headMethod: UInt32 = 0x4441_4548
  /// The delimiters that are not token characters.
  static let delimiters: StaticString = "\"(),/:;<=>?@[\\]{}"
}

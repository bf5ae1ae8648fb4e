// site-check COMMAND ...: exercises Ilwaco's site-image reader and HTTP parser on the VM's disk (an image from
// `denalid disk pack`), printing what they found so that tests can compare it with the host's view.
//   info                      the image's file and block counts
//   list                      every file in table order: path, size, content type
//   lookup PATH...            each file's size, type and stored checksum, and whether its content (read in
//                             pieces of 1000 bytes) matches that checksum; or "not found"
//   range PATH OFFSET LENGTH  the checksum of LENGTH bytes from OFFSET, read with one call (at most 1 MiB)
//   http PIECE FILE...        for each FILE in the image: prints "== FILE", feeds its bytes through a new HTTP
//                             parser PIECE bytes at a time (1-65536), and prints each request and the response
//                             head a file server would send for it (looked up in the same image; a path ending
//                             in '/' gets index.html), then "http: N requests"
//   bench FILE N [STAGE]      parses FILE (at most 64 KiB) N times and for each request does STAGE: parse (nothing
//                             more), lookup (its path) or all (the default: lookup with index.html and the
//                             response head), printing only the total (for counting guest instructions)
// Exit status: 0 done; 1 a disk read failed, a checksum did not match or an entry was corrupt; 2 usage; 3 no
// disk; 4 the image was refused (the reason is printed).
import Ilwaco

@main
struct SiteCheck: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    guard let command = arguments.first else { return usage() }
    let image: SiteImage
    do {
      image = try SiteImage()
    } catch {
      if case .noDisk = error {
        Console.print("site-check: no disk\n")
        return 3
      }
      Console.print("site-check: bad image: ")
      error.print()
      Console.print("\n")
      return 4
    }
    do throws(SiteImageError) {
      switch command {
      case "info":
        Console.print("site-check: ")
        Console.print(image.fileCount)
        Console.print(" files, ")
        Console.print(image.totalBlocks)
        Console.print(" blocks\n")
        return 0
      case "list":
        return try list(image)
      case "lookup":
        var status: Int32 = 0
        for index in 1..<arguments.count where try !lookup(image, arguments[index]) { status = 1 }
        return status
      case "range":
        guard arguments.count == 4, let offset = arguments.unsignedInteger(at: 2, default: 0),
          let length = arguments.unsignedInteger(at: 3, default: 0), length <= 1 << 20
        else { return usage() }
        return try range(image, arguments[1], offset: offset, length: Int(length))
      case "http":
        guard arguments.count >= 3, let piece = arguments.unsignedInteger(at: 1, default: 0), piece >= 1,
          piece <= 65536
        else { return usage() }
        for index in 2..<arguments.count {
          Console.print("== ")
          Console.print(arguments[index])
          Console.print("\n")
          try http(image, arguments[index], piece: Int(piece))
        }
        return 0
      case "bench":
        guard arguments.count == 3 || arguments.count == 4, let rounds = arguments.unsignedInteger(at: 2, default: 0)
        else { return usage() }
        let stage: BenchStage
        switch arguments.count == 4 ? arguments[3] : "all" {
        case "parse": stage = .parse
        case "lookup": stage = .lookup
        case "all": stage = .all
        default: return usage()
        }
        return try bench(image, arguments[1], rounds: Int(rounds), stage: stage)
      default:
        return usage()
      }
    } catch {
      Console.print("site-check: ")
      error.print()
      Console.print("\n")
      return 1
    }
  }

  /// Prints the usage and returns 2.
  static func usage() -> Int32 {
    Console.print(
      "usage: site-check info | list | lookup PATH... | range PATH OFFSET LENGTH | http PIECE FILE... | bench FILE N [parse|lookup|all]\n"
    )
    return 2
  }

  /// Looks `path` up; nil (after printing "not found") if it is not there.
  static func find(_ image: SiteImage, _ path: String) throws(SiteImageError) -> SiteFile? {
    var path = path
    var found: Result<SiteFile?, SiteImageError> = .success(nil)
    path.withUTF8 { bytes in
      guard let base = bytes.baseAddress else { return }
      do throws(SiteImageError) {
        found = .success(try image.lookup(base, count: bytes.count))
      } catch {
        found = .failure(error)
      }
    }
    let file = try found.get()
    if file == nil {
      Console.print(path)
      Console.print(": not found\n")
    }
    return file
  }

  /// Prints every file in table order.
  static func list(_ image: SiteImage) throws(SiteImageError) -> Int32 {
    let name = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(DENALI_SITE_PATH_MAX), alignment: 8)
    defer { name.deallocate() }
    for index in 0..<image.fileCount {
      let file = try image.file(at: index)
      let length = try image.path(of: file, into: name)
      ilwaco_console_write(name.baseAddress, length)
      Console.print(" ")
      Console.print(file.size)
      Console.print(" ")
      Console.print(HTTPContentType.name(code: file.contentType))
      Console.print("\n")
    }
    return 0
  }

  /// Prints a file's size, type and checksum, reads it all in pieces of 1000 bytes and checks the checksum;
  /// false on a mismatch.
  static func lookup(_ image: SiteImage, _ path: String) throws(SiteImageError) -> Bool {
    guard let file = try find(image, path) else { return true }
    let piece = 1000
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: piece, alignment: 8)
    defer { buffer.deallocate() }
    var checksum = SiteChecksum()
    var offset: UInt64 = 0
    while offset < file.size {
      let count = try image.read(file, from: offset, into: buffer, count: piece)
      guard count > 0 else { break }
      checksum.add(buffer, count: count)
      offset += UInt64(count)
    }
    Console.print(path)
    Console.print(": size ")
    Console.print(file.size)
    Console.print(" type ")
    Console.print(HTTPContentType.name(code: file.contentType))
    Console.print(" checksum ")
    Console.printHex(file.checksum)
    let good = checksum.value == file.checksum && offset == file.size
    Console.print(good ? " ok\n" : " MISMATCH\n")
    return good
  }

  /// Prints the checksum of `length` bytes of a file from `offset`, read with one call.
  static func range(_ image: SiteImage, _ path: String, offset: UInt64, length: Int) throws(SiteImageError) -> Int32 {
    guard let file = try find(image, path) else { return 0 }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: 8)
    defer { buffer.deallocate() }
    let count = try image.read(file, from: offset, into: buffer, count: length)
    var checksum = SiteChecksum()
    checksum.add(buffer, count: count)
    Console.print("range: ")
    Console.print(count)
    Console.print(" bytes checksum ")
    Console.printHex(checksum.value)
    Console.print("\n")
    return 0
  }

  /// Feeds a file of request bytes through an HTTP parser `piece` bytes at a time; prints every request and the
  /// response head a file server would send, and at the end how many requests there were.
  static func http(_ image: SiteImage, _ path: String, piece: Int) throws(SiteImageError) {
    guard let file = try find(image, path) else { return }
    let parser = HTTPRequestParser()
    let buffers = ServerBuffers(input: piece)
    let (buffer, response, target) = (buffers.input, buffers.response, buffers.target)
    defer { withExtendedLifetime(buffers) {} }  // the pointers above live as long as buffers
    var requests = 0
    var offset: UInt64 = 0
    reading: while offset < file.size {
      let count = try image.read(file, from: offset, into: buffer, count: piece)
      offset += UInt64(count)
      var used = 0
      while used < count {
        let (result, consumed) = parser.parse(buffer + used, count: count - used)
        used += consumed
        switch result {
        case .needMore:
          continue
        case .failure(let status):
          Console.print("failure ")
          Console.print(status.code)
          Console.print("\n")
          let length = HTTPResponseHead.write(
            status: status, contentType: nil, contentLength: 0, keepAlive: false, minorVersion: 1, into: response)
          ilwaco_console_write(response, length)
          break reading
        case .request(let request):
          requests += 1
          try respond(image, request, target: target, response: response)
        }
      }
    }
    Console.print("http: ")
    Console.print(requests)
    Console.print(parser.isBetweenRequests ? " requests\n" : " requests, then an incomplete or refused one\n")
  }

  /// Prints a request and the head of the response a file server would send for it.
  static func respond(
    _ image: SiteImage, _ request: HTTPRequest, target: UnsafeMutableRawPointer, response: UnsafeMutableRawPointer
  ) throws(SiteImageError) {
    Console.print(request.method == .get ? "request GET " : "request HEAD ")
    ilwaco_console_write(request.path.baseAddress, request.path.count)
    Console.print(request.minorVersion == 0 ? " 1.0" : " 1.1")
    Console.print(request.keepAlive ? " keep-alive" : " close")
    if request.contentLength > 0 {
      Console.print(" body ")
      Console.print(request.contentLength)
    }
    Console.print("\n")
    let head = try responseHead(image, request, target: target, response: response)
    ilwaco_console_write(response, head)
  }

  /// Writes into `response` the head a file server would send for `request`; returns its length.
  static func responseHead(
    _ image: SiteImage, _ request: HTTPRequest, target: UnsafeMutableRawPointer, response: UnsafeMutableRawPointer
  ) throws(SiteImageError) -> Int {
    // The path to look up: the request's, with index.html after a final '/'.
    var length = 0
    let index: StaticString = "index.html"
    let endsInSlash = request.path.last == 0x2F
    let total = request.path.count + (endsInSlash ? index.utf8CodeUnitCount : 0)
    var file: SiteFile? = nil
    if total <= Int(DENALI_SITE_PATH_MAX), let base = request.path.baseAddress {
      target.copyMemory(from: base, byteCount: request.path.count)
      length = request.path.count
      if endsInSlash {
        (target + length).copyMemory(from: index.utf8Start, byteCount: index.utf8CodeUnitCount)
        length += index.utf8CodeUnitCount
      }
      file = try image.lookup(target, count: length)
    }
    return HTTPResponseHead.write(
      status: file == nil ? .notFound : .ok,
      contentType: file.map { HTTPContentType.name(code: $0.contentType) } ?? "text/plain; charset=utf-8",
      contentLength: file?.size ?? 0, keepAlive: request.keepAlive, minorVersion: request.minorVersion, into: response)
  }

  /// How much of a file server's work `bench` does per request.
  enum BenchStage {
    /// Parse only.
    case parse
    /// Parse and look the path up.
    case lookup
    /// Parse, look up (with index.html after a final '/') and write the response head.
    case all
  }

  /// Parses the requests in a file `rounds` times with a fresh parser state each time, doing `stage`'s work for
  /// each; prints only the number of requests.
  static func bench(_ image: SiteImage, _ path: String, rounds: Int, stage: BenchStage) throws(SiteImageError) -> Int32
  {
    guard let file = try find(image, path) else { return 0 }
    let size = Int(min(file.size, 65536))
    let buffers = ServerBuffers(input: max(size, 1))
    let (buffer, response, target) = (buffers.input, buffers.response, buffers.target)
    defer { withExtendedLifetime(buffers) {} }  // the pointers above live as long as buffers
    let count = try image.read(file, from: 0, into: buffer, count: size)
    let parser = HTTPRequestParser()
    var requests = 0
    for _ in 0..<rounds {
      parser.reset()
      var used = 0
      while used < count {
        let (result, consumed) = parser.parse(buffer + used, count: count - used)
        used += consumed
        guard case .request(let request) = result else { break }
        requests += 1
        switch stage {
        case .parse: continue
        case .lookup: if let base = request.path.baseAddress { _ = try image.lookup(base, count: request.path.count) }
        case .all: _ = try responseHead(image, request, target: target, response: response)
        }
      }
    }
    Console.print("bench: ")
    Console.print(requests)
    Console.print(" requests\n")
    return 0
  }
}

/// The buffers a file server's request loop needs: input bytes, a response head, and a path to look up.
final class ServerBuffers {
  /// Request bytes as they are read.
  let input: UnsafeMutableRawPointer
  /// A response head (`HTTPResponseHead.maximumLength` bytes).
  let response: UnsafeMutableRawPointer
  /// The path to look up (`DENALI_SITE_PATH_MAX` bytes).
  let target: UnsafeMutableRawPointer

  /// Buffers with `input` bytes for requests.
  init(input: Int) {
    self.input = .allocate(byteCount: input, alignment: 8)
    response = .allocate(byteCount: HTTPResponseHead.maximumLength, alignment: 8)
    target = .allocate(byteCount: Int(DENALI_SITE_PATH_MAX), alignment: 8)
  }

  deinit {
    input.deallocate()
    response.deallocate()
    target.deallocate()
  }
}

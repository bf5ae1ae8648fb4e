// SiteImagePacker.swift: `denalid disk pack`: writes a site directory's files into a site image file.
import DenaliABI
import Glibc

/// What a packed image holds.
public struct SitePackSummary: Sendable, Equatable {
  /// Files in the image.
  public let files: Int
  /// Bytes of file content.
  public let contentBytes: UInt64
  /// Blocks of the image (its size is this times 4096).
  public let blocks: UInt64
}

/// Packs a site directory into a site image (format: `denali/site_image.h`, Docs/GUESTS.md). The same
/// directory contents always give the same bytes: no times, owners or modes are recorded, and the order of
/// everything is fixed by the paths.
public enum SiteImagePacker {
  /// Bytes read from a source file at once.
  static let chunkSize = 1 << 20

  /// Packs the files below `directory` into a new image at `output` (written beside it, then renamed into
  /// place, so a reader never sees half an image). Refuses inputs past `limits`.
  @discardableResult
  public static func pack(directory: String, output: String, limits: SiteImageLimits = .format)
    throws(SiteImageError) -> SitePackSummary
  {
    let files = try SiteDirectoryScanner.scan(directory, limits: limits)
    let layout = try SiteImageLayout(files: files, limits: limits)
    try refuseOutputInside(directory: directory, output: output)
    var template = Array("\(output).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
      guard let base = buffer.baseAddress else { return -1 }
      return mkstemp(base)
    }
    guard fd >= 0 else { throw .system(path: output, operation: "create", errno: errno) }
    let temporary = String(cString: template)
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    var renamed = false
    defer {
      close(fd)
      if !renamed { unlink(temporary) }
    }
    guard fchmod(fd, 0o644) == 0 else { throw .system(path: temporary, operation: "fchmod", errno: errno) }
    guard ftruncate(fd, off_t(layout.totalBlocks * SiteImageLayout.blockSize)) == 0 else {
      throw .system(path: temporary, operation: "ftruncate", errno: errno)
    }
    var checksums: [UInt64] = []
    checksums.reserveCapacity(files.count)
    var buffer = [UInt8](repeating: 0, count: chunkSize)
    for (index, file) in files.enumerated() {
      checksums.append(
        try copy(
          file, to: fd, at: layout.firstBlocks[index] * SiteImageLayout.blockSize, buffer: &buffer, output: temporary))
    }
    let metadata = layout.metadata(checksums: checksums)
    guard metadata.withUnsafeBytes({ writeAll($0, to: fd, at: 0) }) else {
      throw .system(path: temporary, operation: "write", errno: errno)
    }
    guard fsync(fd) == 0 else { throw .system(path: temporary, operation: "fsync", errno: errno) }
    guard rename(temporary, output) == 0 else { throw .system(path: output, operation: "rename", errno: errno) }
    renamed = true
    return SitePackSummary(
      files: files.count, contentBytes: files.reduce(0) { $0 + $1.size }, blocks: layout.totalBlocks)
  }

  /// Copies `file` into the image at byte `offset`, checking it still has its scanned size and type; returns
  /// its word checksum.
  private static func copy(
    _ file: SiteSourceFile, to fd: Int32, at offset: UInt64, buffer: inout [UInt8], output: String
  ) throws(SiteImageError) -> UInt64 {
    // O_NOFOLLOW: the scan resolved every link, so a link here appeared since; O_NONBLOCK: a FIFO cannot hang us.
    let source = open(file.hostPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
    guard source >= 0 else {
      if errno == ELOOP { throw .changedWhilePacking(path: file.hostPath) }
      throw .system(path: file.hostPath, operation: "open", errno: errno)
    }
    defer { close(source) }
    var status = stat()
    guard fstat(source, &status) == 0 else { throw .system(path: file.hostPath, operation: "fstat", errno: errno) }
    guard status.st_mode & S_IFMT == S_IFREG, UInt64(status.st_size) == file.size else {
      throw .changedWhilePacking(path: file.hostPath)
    }
    var checksum = SiteWordChecksum()
    var done: UInt64 = 0
    while true {
      let count = buffer.withUnsafeMutableBytes { bytes in
        // SAFETY: read writes at most bytes.count bytes into the array's own storage.
        read(source, bytes.baseAddress, bytes.count)
      }
      if count < 0 && errno == EINTR { continue }
      guard count >= 0 else { throw .system(path: file.hostPath, operation: "read", errno: errno) }
      if count == 0 { break }
      guard done + UInt64(count) <= file.size else { throw .changedWhilePacking(path: file.hostPath) }
      let written = buffer.withUnsafeBytes { bytes in
        let piece = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
        checksum.add(piece)
        return writeAll(piece, to: fd, at: offset + done)
      }
      guard written else { throw .system(path: output, operation: "write", errno: errno) }
      done += UInt64(count)
    }
    guard done == file.size else { throw .changedWhilePacking(path: file.hostPath) }
    return checksum.value
  }

  /// Writes all of `buffer` at `offset` of `fd`; false with errno set if a write fails.
  private static func writeAll(_ buffer: UnsafeRawBufferPointer, to fd: Int32, at offset: UInt64) -> Bool {
    guard let base = buffer.baseAddress else { return true }
    return transferAll(count: buffer.count) { done in
      // SAFETY: done < buffer.count, so base + done and the rest of the buffer lie inside it.
      pwrite(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
    }
  }

  /// Refuses an output path inside the site directory (the image would hold itself on the next pack).
  private static func refuseOutputInside(directory: String, output: String) throws(SiteImageError) {
    let slash = output.lastIndex(of: "/")
    let outputDirectory = slash.map { $0 == output.startIndex ? "/" : String(output[..<$0]) } ?? "."
    guard let resolvedOutput = realpath(outputDirectory, nil) else {
      throw .system(path: outputDirectory, operation: "realpath", errno: errno)
    }
    defer { free(resolvedOutput) }
    guard let resolvedSite = realpath(directory, nil) else { throw .notADirectory(path: directory) }
    defer { free(resolvedSite) }
    let outputPath = String(cString: resolvedOutput)
    let sitePath = String(cString: resolvedSite)
    if outputPath == sitePath || outputPath.hasPrefix(sitePath == "/" ? "/" : sitePath + "/") {
      throw .outputInsideSite(path: output)
    }
  }
}

// ProcFile.swift: reading /proc files: whole (their size reads as 0), or as `Name: value` fields.
import Glibc

/// Reads Linux /proc files, for the figures the daemon and the benchmarks report about the process.
public enum ProcFile {
  /// The whole of a /proc file, read to end of file (at most 16 MiB); nil if it cannot be opened.
  public static func read(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while contents.count < 16 << 20 {
      // SAFETY: `read` writes at most `buffer.count` bytes into the chunk's own storage.
      let got = chunk.withUnsafeMutableBytes { buffer in Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
      if got < 0 && errno == EINTR { continue }
      guard got > 0 else { break }
      contents.append(contentsOf: chunk[0..<got])
    }
    return contents
  }

  /// `Name:   value kB` lines of a /proc file (`/proc/self/status`, `/proc/meminfo`) as name to value.
  public static func fields(of path: String) -> [String: Int64] {
    guard let bytes = read(path) else { return [:] }
    var result: [String: Int64] = [:]
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      let words = line[line.index(after: colon)...].split { $0 == " " || $0 == "\t" }
      if let first = words.first, let value = Int64(first) { result[String(line[..<colon])] = value }
    }
    return result
  }

  /// This process's resident set (VmRSS), KiB; 0 when unreadable.
  public static var residentKiB: Int64 { fields(of: "/proc/self/status")["VmRSS"] ?? 0 }
}

// FuzzSupport.swift: what every harness shares: a private scratch directory and writing seed inputs.
import CFuzzerDriver
import Foundation
import Glibc

/// Helpers for libFuzzer harnesses.
public enum FuzzSupport {
  /// A fresh directory (mode 0700) under /tmp for this process's scratch files, removed at exit.
  public static let scratchDirectory: String = {
    var template = Array("/tmp/denali-fuzz-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
    guard made != nil else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    atexit { try? FileManager.default.removeItem(atPath: FuzzSupport.scratchDirectoryIfMade ?? "") }
    scratchDirectoryIfMade = path
    return path
  }()

  nonisolated(unsafe) private static var scratchDirectoryIfMade: String?

  /// Runs libFuzzer's driver on `testOneInput` with the process's command line, and exits with its status.
  public static func run(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
  }

  /// When $DENALI_FUZZ_SEEDS names a directory, writes `seeds` there (one file each, named by index) and exits:
  /// `make fuzz-seeds` makes the starting corpora this way.
  public static func writeSeedsIfAsked(_ seeds: () -> [[UInt8]]) {
    guard let directory = ProcessInfo.processInfo.environment["DENALI_FUZZ_SEEDS"] else { return }
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (index, seed) in seeds().enumerated() {
      _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(index)", contents: Data(seed))
    }
    _exit(0)  // not exit: libFuzzer reports a target that calls exit as a crash
  }

  /// Replaces the file at `path` by `bytes`.
  public static func writeFile(_ path: String, _ bytes: UnsafeBufferPointer<UInt8>) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { fatalError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
      let written = write(fd, bytes.baseAddress.map { $0 + done }, bytes.count - done)
      guard written > 0 else { fatalError("write \(path): \(String(cString: strerror(errno)))") }
      done += written
    }
  }
}

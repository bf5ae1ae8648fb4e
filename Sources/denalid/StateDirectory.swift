// StateDirectory.swift: where `denalid run` keeps swap files: the one given, or a temporary one it removes.
import Foundation

/// The state directory of one run.
struct StateDirectory {
  /// Its path.
  let path: String
  /// True when this run created it and removes it at exit.
  let isTemporary: Bool

  /// Uses `path`, or creates a fresh temporary directory under /var/tmp (disk, not tmpfs) when nil.
  init(path: String?) throws {
    if let path {
      self.path = path
      isTemporary = false
      return
    }
    var template = Array("/var/tmp/denali-run-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
    guard created != nil else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "mkdtemp under /var/tmp: \(String(cString: strerror(errno)))"])
    }
    self.path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    isTemporary = true
  }

  /// Deletes the directory and its swap files when this run created it.
  func removeIfTemporary() {
    guard isTemporary else { return }
    try? FileManager.default.removeItem(atPath: path)
  }
}

// StateDirectory.swift: where `denalid run` keeps swap files: the one given, or a temporary one it removes.
import Foundation
import SystemCalls
import TrustedFiles

/// The state directory of one run, held open by descriptor and checked (`TrustedDirectory.open`).
public struct StateDirectory {
  /// The directory.
  public let directory: TrustedDirectory
  /// Its path.
  public var path: String { directory.path }
  /// For a temporary directory this run made: the directory holding it, and its name there.
  private let temporary: (parent: TrustedDirectory, name: String)?

  /// Uses `path` (created with mode 0700 when missing; refused when another user could change it), or creates
  /// a fresh temporary directory under /var/tmp (disk, not tmpfs) when nil.
  public init(path: String?) throws {
    if let path {
      directory = try TrustedDirectory.open(path, creating: .missingTarget(0o700))
      temporary = nil
      return
    }
    let parent = try TrustedDirectory.open("/var/tmp", stickyTarget: true)
    var template = Array("/var/tmp/denali-run-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
    guard created != nil else {
      throw CocoaError(
        .fileWriteUnknown,
        userInfo: [NSLocalizedDescriptionKey: "mkdtemp under /var/tmp: \(SystemCallError.text(for: errno))"])
    }
    let made = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let name = String(made.dropFirst("/var/tmp/".count))
    temporary = (parent, name)
    do {
      directory = try parent.subdirectory(name, create: false)
    } catch {
      parent.removeTree(name)
      throw error
    }
  }

  /// Deletes the directory and its swap files when this run created it (by descriptor: nothing is followed).
  public func removeIfTemporary() {
    guard let temporary else { return }
    temporary.parent.removeTree(temporary.name)
  }
}

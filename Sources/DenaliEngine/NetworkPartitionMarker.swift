// NetworkPartitionMarker.swift: how many VM processes share the network's addresses, kept in the state directory:
// each process gives out its own part of the subnet (AddressPartition), so the VMs' recorded addresses are only
// right for the count they were given under, and a start with another count would put them in the wrong process.
import DenaliCore
import Glibc
import SystemCalls
import TrustedFiles

/// The file `network-vm-processes` in the state directory: the VM-process count the network's addresses were
/// split for. Written when a daemon with a network and several VM processes first starts on the directory.
public enum NetworkPartitionMarker {
  /// The file's name in the state directory.
  public static let fileName = "network-vm-processes"

  /// Checks that a daemon with a network and `processes` VM processes may start on the state directory at
  /// `root`, recording the count when it is the first: refused when the file names another count, is not a
  /// plain count, or is missing while the directory's journal holds VMs with addresses (given by one process).
  /// For one process a missing file is right (one process gave every address) and nothing is written.
  public static func check(root: String, processes: Int) throws {
    let directory: TrustedDirectory
    do {
      directory = try TrustedDirectory.open(root, creating: .missingTarget(0o700))
    } catch {
      throw EngineStartError("state directory \(root): \(error)")
    }
    let path = directory.path(of: fileName)
    let fd = directory.openFile(fileName, flags: O_RDONLY)
    if fd >= 0 {
      defer { close(fd) }
      var bytes = [UInt8](repeating: 0, count: 16)
      let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      let text = count > 0 ? String(decoding: bytes[0..<count], as: UTF8.self) : ""
      guard let recorded = Int(text.hasSuffix("\n") ? String(text.dropLast()) : text), recorded >= 1, recorded <= 64
      else {
        throw EngineStartError("\(path) is not a VM-process count (1 to 64): remove it only if no VM has an address")
      }
      guard recorded == processes else {
        throw EngineStartError(
          "the network's addresses in this state directory were split over \(recorded) VM processes (\(path)): start with vm-processes = \(recorded)"
        )
      }
      return
    }
    guard errno == ENOENT else {
      throw EngineStartError("cannot read \(path): \(SystemCallError.text(for: errno))")
    }
    guard processes > 1 else { return }
    if try journalHoldsAddresses(directory) {
      throw EngineStartError(
        "the VMs in this state directory were given their addresses by one process: with a network, start with vm-processes = 1, or use a new state directory"
      )
    }
    try record(processes, in: directory)
  }

  /// Whether the journal of `directory` records a VM with an address: the key `"address":"` appears in it only as
  /// a record's address (every string in a line is JSON, so a quote inside one is escaped).
  private static func journalHoldsAddresses(_ directory: TrustedDirectory) throws -> Bool {
    let fd = directory.openFile(VMJournal.fileName, flags: O_RDONLY)
    guard fd >= 0 else {
      if errno == ENOENT { return false }
      throw EngineStartError(
        "cannot read \(directory.path(of: VMJournal.fileName)): \(SystemCallError.text(for: errno))")
    }
    defer { close(fd) }
    let key = Array(#""address":""#.utf8)
    var carried: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count >= 0 else {
        throw EngineStartError(
          "cannot read \(directory.path(of: VMJournal.fileName)): \(SystemCallError.text(for: errno))")
      }
      if count == 0 { return false }
      // The key may straddle two reads: the last bytes of one are searched again with the next.
      let window = carried + chunk[0..<count]
      if window.firstRange(of: key) != nil { return true }
      carried = Array(window.suffix(key.count - 1))
    }
  }

  /// Writes `processes` to the file (a temporary file made durable, renamed over it, the directory synced).
  private static func record(_ processes: Int, in directory: TrustedDirectory) throws {
    let path = directory.path(of: fileName)
    let temporary = fileName + ".new"
    _ = directory.remove(temporary)
    let out = directory.createFile(temporary, flags: O_WRONLY)
    guard out >= 0 else { throw EngineStartError("cannot write \(path): \(SystemCallError.text(for: errno))") }
    let line = Array("\(processes)\n".utf8)
    let written = line.withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
    let synced = fsync(out) == 0
    close(out)
    guard written == line.count, synced, directory.rename(temporary, to: fileName), directory.sync() else {
      _ = directory.remove(temporary)
      throw EngineStartError("cannot write \(path): \(SystemCallError.text(for: errno))")
    }
  }
}

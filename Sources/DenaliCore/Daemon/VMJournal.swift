// VMJournal.swift: the daemon's durable VM table: an append-only, checksummed journal file, replayed at open.
import Foundation
import Glibc
import TrustedFiles

/// An append-only journal of VM records in a directory (the daemon's state directory), crash-safe.
///
/// The file is `directory/vms.journal`, one entry per line (`VMJournalEntry`). Each append is one write(2)
/// at the end of the file; a failed append is cut off again (ftruncate to the previous length), so that an
/// error such as ENOSPC never leaves a partial line behind the entries before it.
public final class VMJournal: Sendable {
  /// The journal file's path.
  public let path: String
  /// The directory holding it.
  public let directory: String
  /// The records replayed at open, in id order (the engine takes them once).
  public let recovered: [VMRecord]
  /// The lowest VM id the journal never recorded as given out (ids of VMs already forgotten included).
  public let recoveredNextID: UInt64
  /// Entries skipped at open because they were torn, failed their checksum, or held values out of bounds (count),
  /// for a log line.
  public let skippedEntries: Int
  /// Why the first skipped entries were skipped ("line N: reason"), for the log.
  public let skippedReasons: [String]
  /// The directory, held open: the journal and its temporary files are reached only through it.
  private let handle: TrustedDirectory

  /// The open file and what has been written to it.
  private struct State {
    /// The journal's file descriptor (O_APPEND), or -1 once closed.
    var fd: Int32
    /// Bytes of complete entries in the file: where a failed append is cut back to.
    var length: Int
    /// True when bytes past `length` could not be cut off yet (the next append cuts them first).
    var tailNeedsCut: Bool
  }

  private let state: Locked<State>

  /// The journal file's name inside the directory.
  public static let fileName = "vms.journal"
  /// What a rewrite's temporary file adds to the journal's name (then a random hex number).
  static let temporarySuffix = ".tmp-"

  /// Opens (creating if missing) `directory/vms.journal`, the directory created (mode 0700) if missing and
  /// refused unless only the daemon's user can change it (see `TrustedDirectory.open`).
  public convenience init(directory: String) throws(VMJournalError) {
    let handle: TrustedDirectory
    do {
      handle = try TrustedDirectory.open(directory, creating: .missingTarget(0o700))
    } catch {
      throw .directory(error)
    }
    try self.init(directory: handle)
  }

  /// Opens (creating if missing) `vms.journal` in `directory` (never through a symbolic link); replays it and
  /// returns the table as of the last complete entry. Lines that are torn, corrupt or out of bounds are skipped.
  public init(directory: TrustedDirectory) throws(VMJournalError) {
    let path = directory.path(of: Self.fileName)
    let fd = directory.openFile(Self.fileName, flags: O_RDWR | O_CREAT | O_APPEND)
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    let replay: VMJournalReplay
    do throws(VMJournalError) {
      guard let read = VMJournalReplay.read(fd) else { throw .system(path: path, operation: "read", errno: errno) }
      replay = read
      // A new file's directory entry must be durable before the first synced append relies on it.
      guard directory.sync() else { throw .system(path: directory.path, operation: "fsync", errno: errno) }
      Self.removeTemporaryFiles(in: directory)
      // A torn last line is cut off, so that the next append starts a line of its own.
      var status = stat()
      let size = fstat(fd, &status) == 0 ? Int(status.st_size) : Int.max
      let tailNeedsCut = replay.completeLength < size && ftruncate(fd, off_t(replay.completeLength)) != 0
      state = Locked(State(fd: fd, length: replay.completeLength, tailNeedsCut: tailNeedsCut))
    } catch {
      Glibc.close(fd)
      throw error
    }
    self.path = path
    self.directory = directory.path
    handle = directory
    recovered = replay.table.values.sorted { $0.id < $1.id }
    recoveredNextID = replay.nextID
    skippedEntries = replay.skipped
    skippedReasons = replay.reasons
  }

  deinit {
    close()
  }

  /// The VMs the journal in `directory` records, as a start would recover them, read without creating, cutting
  /// or syncing anything (for checks before a start); empty when there is no journal. Lines that are torn,
  /// corrupt or out of bounds are skipped, as at a start.
  public static func recordedVMs(in directory: TrustedDirectory) throws(VMJournalError) -> [VMRecord] {
    let fd = directory.openFile(fileName, flags: O_RDONLY)
    guard fd >= 0 else {
      if errno == ENOENT { return [] }
      throw .system(path: directory.path(of: fileName), operation: "open", errno: errno)
    }
    defer { Glibc.close(fd) }
    guard let replay = VMJournalReplay.read(fd) else {
      throw .system(path: directory.path(of: fileName), operation: "read", errno: errno)
    }
    return replay.table.values.sorted { $0.id < $1.id }
  }

  /// Appends creation records with ONE write(2) and one fdatasync (durable before the API answers).
  public func recordCreated(_ records: [VMRecord]) throws(VMJournalError) {
    guard !records.isEmpty else { return }
    try append(records.map { VMJournalEntry.created($0) }, sync: true)
  }

  /// Appends an end record (one write(2), no sync: it survives a killed process, and losing it to a power cut only reruns the VM).
  public func recordEnded(id: UInt64, end: VMEnd, at: Double, usage: VMUsage? = nil) throws(VMJournalError) {
    try append([.ended(id: id, end: end, at: at, usage: usage)], sync: false)
  }

  /// Replaces the whole journal by these records (write to a temporary file in the same directory, fsync, rename,
  /// fsync the directory). Used at startup after replay and at clean shutdown (then records carry console and
  /// startedFrom). Later appends go to the new file. On an error before the rename the old journal stays as it was.
  /// `nextID` (the lowest id never given out) is written first, so a restart never gives out the id of a VM that
  /// was forgotten and left the table.
  public func rewrite(_ records: [VMRecord], nextID: UInt64 = 1) throws(VMJournalError) {
    let bytes = try encode(
      [.nextID(max(nextID, (records.map(\.id).max() ?? 0) + 1))] + records.map { VMJournalEntry.record($0) })
    try state.withLock { (state) throws(VMJournalError) in
      guard state.fd >= 0 else { throw .closed(path: path) }
      var temporary: String
      var fd: Int32
      repeat {
        temporary = Self.fileName + Self.temporarySuffix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        fd = handle.createFile(temporary, flags: O_WRONLY | O_APPEND)
      } while fd < 0 && (errno == EEXIST || errno == EINTR)
      guard fd >= 0 else { throw .system(path: handle.path(of: temporary), operation: "open", errno: errno) }
      do throws(VMJournalError) {
        guard writeAll(fd, bytes) else {
          throw .system(path: handle.path(of: temporary), operation: "write", errno: errno)
        }
        while fsync(fd) != 0 {
          guard errno == EINTR else {
            throw .system(path: handle.path(of: temporary), operation: "fsync", errno: errno)
          }
        }
        guard handle.rename(temporary, to: Self.fileName) else {
          throw .system(path: path, operation: "rename", errno: errno)
        }
      } catch {
        Glibc.close(fd)
        handle.remove(temporary)
        throw error
      }
      // The new file is the journal from here on, even if the directory sync below fails.
      Glibc.close(state.fd)
      state = State(fd: fd, length: bytes.count, tailNeedsCut: false)
      guard handle.sync() else { throw .system(path: directory, operation: "fsync", errno: errno) }
    }
  }

  /// Closes the file.
  public func close() {
    state.withLock { state in
      guard state.fd >= 0 else { return }
      Glibc.close(state.fd)
      state.fd = -1
    }
  }

  /// Writes `entries` at the end with one write(2), then fdatasyncs when `sync`; on any failure cuts the file
  /// back to its previous length, so the entries before stay intact and these are not there.
  private func append(_ entries: [VMJournalEntry], sync: Bool) throws(VMJournalError) {
    let bytes = try encode(entries)
    try state.withLock { (state) throws(VMJournalError) in
      guard state.fd >= 0 else { throw .closed(path: path) }
      if state.tailNeedsCut {
        guard ftruncate(state.fd, off_t(state.length)) == 0 else {
          throw .system(path: path, operation: "ftruncate", errno: errno)
        }
        state.tailNeedsCut = false
      }
      var failure: (operation: String, errno: Int32)?
      if !writeAll(state.fd, bytes) {
        failure = ("write", errno)
      } else if sync {
        while fdatasync(state.fd) != 0 {
          guard errno == EINTR else {
            failure = ("fdatasync", errno)
            break
          }
        }
      }
      if let failure {
        state.tailNeedsCut = ftruncate(state.fd, off_t(state.length)) != 0
        throw .system(path: path, operation: failure.operation, errno: failure.errno)
      }
      state.length += bytes.count
    }
  }

  /// The journal lines of `entries`, concatenated.
  private func encode(_ entries: [VMJournalEntry]) throws(VMJournalError) -> [UInt8] {
    var bytes: [UInt8] = []
    for entry in entries {
      do {
        bytes.append(contentsOf: try entry.line())
      } catch {
        throw .encoding(path: path, reason: "\(error)")
      }
    }
    return bytes
  }

  /// Deletes the temporary files a rewrite left when the daemon died before its rename.
  private static func removeTemporaryFiles(in directory: TrustedDirectory) {
    for name in directory.names() where name.hasPrefix(fileName + temporarySuffix) {
      directory.remove(name)
    }
  }
}

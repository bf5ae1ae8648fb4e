// DiskFile.swift: the host file behind a virtual disk: opened or created, checked, read and written by block.
import DenaliABI
import Glibc
import SystemCalls
import TrustedFiles

/// Why a disk file cannot be used; `description` is a one-line message.
public enum DiskFileError: Error, Equatable, CustomStringConvertible {
  /// open/fstat/ftruncate failed.
  case system(SystemCallError)
  /// Not a regular file.
  case notARegularFile(path: String)
  /// Size zero, or not a multiple of the block size.
  case badSize(path: String, size: UInt64)
  /// An existing file's size differs from the requested one.
  case sizeMismatch(path: String, existing: UInt64, requested: UInt64)

  /// A one-line message.
  public var description: String {
    switch self {
    case .system(let failure): failure.description
    case .notARegularFile(let path): "\(path): a disk must be a regular file"
    case .badSize(let path, let size):
      "\(path): disk size \(size) bytes must be a non-zero multiple of \(DENALI_DISK_BLOCK_SIZE)"
    case .sizeMismatch(let path, let existing, let requested):
      "\(path): the existing disk is \(existing) bytes, not the requested \(requested)"
    }
  }
}

/// A regular host file holding a virtual disk of 4 KiB blocks.
public final class DiskFile: @unchecked Sendable {
  /// Bytes per block.
  public static let blockSize = UInt64(DENALI_DISK_BLOCK_SIZE)
  /// Largest disk the daemon creates or opens: 1 TiB (so that every byte offset fits an off_t with room).
  public static let maximumSize: UInt64 = 1 << 40

  /// The file's path (or a description of a scratch disk).
  public let path: String
  /// Number of blocks.
  public let blocks: UInt64
  /// True when guests may only read it.
  public let isReadOnly: Bool
  private let fd: Int32

  /// Opens the disk at `path` (a file the user chose: it is opened as named). With `createSize`, a missing file
  /// is created with that size (sparse), and an existing one must already have it. Read-only disks are opened
  /// O_RDONLY, so several VMs may share one.
  public convenience init(path: String, readOnly: Bool = false, createSize: UInt64? = nil) throws(DiskFileError) {
    var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
    if createSize != nil, !readOnly { flags |= O_CREAT }
    let fd = open(path, flags, 0o600)
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    try self.init(descriptor: fd, path: path, readOnly: readOnly, createSize: createSize)
  }

  /// The daemon's own disk `name` in `directory`, of `size` bytes: opened relative to the directory's
  /// descriptor, never through a symbolic link; with `fresh` it must not exist yet (O_EXCL), else an existing
  /// one is reopened (it must have that size) or a missing one created.
  public convenience init(directory: TrustedDirectory, name: String, size: UInt64, fresh: Bool) throws(DiskFileError) {
    let fd = fresh ? directory.createFile(name, flags: O_RDWR) : directory.openFile(name, flags: O_RDWR | O_CREAT)
    guard fd >= 0 else { throw .system(path: directory.path(of: name), operation: "open", errno: errno) }
    try self.init(descriptor: fd, path: directory.path(of: name), readOnly: false, createSize: size)
  }

  /// A read-only disk over `fd`, a descriptor opened O_RDONLY that this disk takes (closed on failure, and when
  /// the disk goes): several VMs may share it (reads are positioned, so they never race).
  public convenience init(readOnlyDescriptor fd: Int32, path: String) throws(DiskFileError) {
    try self.init(descriptor: fd, path: path, readOnly: true, createSize: nil)
  }

  /// Takes `fd` (closed on failure) and checks it as the disk at `path` (see `init(path:readOnly:createSize:)`).
  private init(descriptor fd: Int32, path: String, readOnly: Bool, createSize: UInt64?) throws(DiskFileError) {
    do throws(DiskFileError) {
      var status = stat()
      guard fstat(fd, &status) == 0 else { throw .system(path: path, operation: "fstat", errno: errno) }
      guard status.st_mode & S_IFMT == S_IFREG else { throw .notARegularFile(path: path) }
      var size = UInt64(status.st_size)
      if let createSize {
        if size == 0 && !readOnly {
          guard createSize > 0, createSize % Self.blockSize == 0, createSize <= Self.maximumSize else {
            throw .badSize(path: path, size: createSize)
          }
          guard ftruncate(fd, off_t(createSize)) == 0 else {
            throw .system(path: path, operation: "ftruncate", errno: errno)
          }
          size = createSize
        } else if size != createSize {
          throw .sizeMismatch(path: path, existing: size, requested: createSize)
        }
      }
      guard size > 0, size % Self.blockSize == 0, size <= Self.maximumSize else {
        throw .badSize(path: path, size: size)
      }
      self.path = path
      self.blocks = size / Self.blockSize
      self.isReadOnly = readOnly
      self.fd = fd
    } catch {
      close(fd)
      throw error
    }
  }

  /// A scratch disk of `size` bytes in `directory`: a file without a name (O_TMPFILE), so it vanishes with the
  /// daemon and no other process can ever reach it by a path. Where the file system has no O_TMPFILE, a
  /// `mkstemp` file is used through its descriptor and unlinked at once.
  public static func scratch(size: UInt64, directory: String = "/tmp") throws(DiskFileError) -> DiskFile {
    var fd = open(directory, O_RDWR | LinuxOpenFlags.temporaryFile | O_CLOEXEC, 0o600)
    var path = "\(directory) (scratch)"
    if fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR) {
      var template = Array("\(directory)/denali-scratch-XXXXXX".utf8CString)
      fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
        guard let base = buffer.baseAddress else { return -1 }
        return mkstemp(base)
      }
      path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
      if fd >= 0 {
        unlink(path)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      }
    }
    guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
    return try DiskFile(descriptor: fd, path: path, readOnly: false, createSize: size)
  }

  deinit { close(fd) }

  /// Reads `buffer.count` bytes at byte `offset`; returns false on an I/O error or a short file.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Bool {
    transferAll(count: buffer.count) { done in
      // SAFETY: done < buffer.count, so the destination stays inside the buffer.
      pread(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(offset) + off_t(done))
    }
  }

  /// Writes `buffer` at byte `offset`; returns false on an I/O error (for example a full host disk).
  func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
    transferAll(count: buffer.count) { done in
      // SAFETY: done < buffer.count, so the source stays inside the buffer.
      pwrite(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(offset) + off_t(done))
    }
  }
}

extension DiskFileError {
  /// A failure of `operation` on `path` with `errno`.
  public static func system(path: String, operation: String, errno: Int32) -> Self {
    .system(SystemCallError(path: path, operation: operation, errno: errno))
  }
}

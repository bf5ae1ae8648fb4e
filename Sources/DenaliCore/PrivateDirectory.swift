// PrivateDirectory.swift: a directory only the daemon's user may use, created with exactly mode 0700.
import Glibc

/// Creates `path` with mode 0700 (chmodded after mkdir: the umask may have masked bits), or accepts the
/// directory already there. Nil on success, else the failing call's name and errno (`mkdir` with ENOTDIR
/// when something other than a directory is at `path`).
public func makePrivateDirectory(_ path: String) -> (operation: String, errno: Int32)? {
  if mkdir(path, 0o700) == 0 {
    return chmod(path, 0o700) == 0 ? nil : ("chmod", errno)
  }
  guard errno == EEXIST else { return ("mkdir", errno) }
  var status = stat()
  guard stat(path, &status) == 0 else { return ("stat", errno) }
  return status.st_mode & S_IFMT == S_IFDIR ? nil : ("mkdir", ENOTDIR)
}

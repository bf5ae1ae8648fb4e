// TransferAll.swift: the retry loop every whole-buffer pread/pwrite of the disk and swap files goes through.
import Glibc

/// Repeats `step(bytesDone)` (a pread or pwrite of the rest) until `count` bytes moved, retrying EINTR;
/// false when a step fails or moves nothing (errno tells why; ENOSPC is set for a step that moved nothing
/// without an error).
func transferAll(count: Int, _ step: (Int) -> Int) -> Bool {
  var done = 0
  while done < count {
    let moved = step(done)
    if moved < 0 && errno == EINTR { continue }
    guard moved > 0 else {
      if moved == 0 { errno = ENOSPC }
      return false
    }
    done += moved
  }
  return true
}

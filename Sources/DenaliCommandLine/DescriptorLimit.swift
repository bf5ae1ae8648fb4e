// DescriptorLimit.swift: raising the open-file limit, since every resident VM holds a vCPU descriptor.
import Glibc

/// Raises the soft limit on open files to the hard limit; returns the soft limit now in force (nil if unknown).
@discardableResult
public func raiseDescriptorLimit() -> UInt64? {
  var limit = rlimit()
  guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
  if limit.rlim_cur < limit.rlim_max {
    limit.rlim_cur = limit.rlim_max
    if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
      _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
  }
  return UInt64(limit.rlim_cur)
}

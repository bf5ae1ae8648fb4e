// Random.swift: the guest's random numbers: a stream seeded from the host's per-VM secret in the boot information.

/// Random numbers for this VM. `seed` is the 64 random bits the host drew for this VM (`random_seed` in the
/// boot information; 0 on a host that predates it); `next()` is a splitmix64 stream from it. Not for
/// long-term keys, but unpredictable to anyone who does not know the seed (TCP initial sequence numbers).
public enum Random {
  /// The host's per-VM secret.
  public static var seed: UInt64 {
    // SAFETY: ilwaco_start stored a checked boot info pointer before any Swift code runs.
    ilwaco_boot_info().pointee.random_seed
  }

  nonisolated(unsafe) private static var state: UInt64 = 0
  nonisolated(unsafe) private static var seeded = false

  /// The next 64 random bits (splitmix64 over the seed, mixed with the wall clock at first use).
  public static func next() -> UInt64 {
    if !seeded {
      state = seed ^ Clock.wallClockNanoseconds
      seeded = true
    }
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

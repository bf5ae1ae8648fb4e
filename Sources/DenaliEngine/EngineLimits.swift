// EngineLimits.swift: per-user quotas and the daemon-wide disk limits, checked when VMs are created: a request
// that would exceed one is refused whole, before anything changes.
import ControlAPI
import DenaliCore

/// Per-user quotas (for users who are not administrators) and daemon-wide bounds on disk, all over live VMs
/// (finished VMs hold no memory, scratch disk or swap file). nil means no bound.
public struct EngineLimits: Equatable, Sendable {
  /// Most live VMs one user may have (`quota-vms`).
  public var vmsPerUser: Int?
  /// Most guest memory of one user's live VMs together, in bytes (`quota-memory`).
  public var memoryPerUser: UInt64?
  /// Most scratch-disk bytes of one user's live VMs together (`quota-disk`).
  public var diskPerUser: UInt64?
  /// Most scratch-disk bytes of all live VMs together (`scratch-disk-limit`): each disk is charged its full size,
  /// which is what its file can grow to.
  public var scratchDiskBytes: UInt64?
  /// Most swap-file bytes of all live VMs together (`swap-limit`): each VM is charged the most its swap file can
  /// ever take (`SwapFile.worstCaseDiskBytes`), so every VM admitted can always be swapped out.
  public var swapBytes: UInt64?

  /// Bounds with these values (nil: none).
  public init(
    vmsPerUser: Int? = nil, memoryPerUser: UInt64? = nil, diskPerUser: UInt64? = nil, scratchDiskBytes: UInt64? = nil,
    swapBytes: UInt64? = nil
  ) {
    self.vmsPerUser = vmsPerUser
    self.memoryPerUser = memoryPerUser
    self.diskPerUser = diskPerUser
    self.scratchDiskBytes = scratchDiskBytes
    self.swapBytes = swapBytes
  }

  /// True when nothing is bounded (the engine then skips adding up what VMs hold).
  var isEmpty: Bool { self == EngineLimits() }

  /// Throws when `count` more VMs of `memory` bytes and `disk` scratch-disk bytes each, for `requester`, would
  /// exceed a quota (`.quotaExceeded`, not for administrators) or a daemon-wide limit (`.limitReached`), given
  /// what the live and reserved VMs hold: `all` of them, and `own`, the requester's.
  func check(
    count: Int, memory: UInt64, disk: UInt64, requester: ControlCaller, all: EngineHoldings, own: EngineHoldings
  ) throws(ControlBackendError) {
    let more = EngineHoldings(count: count, memory: memory, disk: disk)
    let who = "uid \(requester.uid)"
    if !requester.isAdmin {
      if let limit = vmsPerUser, own.vms + more.vms > limit {
        throw .quotaExceeded(
          "quota-vms: \(who) may have \(limit) live VMs; it has \(own.vms) and asked for \(count) more")
      }
      try Self.checkBytes(
        "quota-memory", "guest memory", limit: memoryPerUser, held: own.memory, more: more.memory, who: who)
      try Self.checkBytes("quota-disk", "scratch disk", limit: diskPerUser, held: own.disk, more: more.disk, who: who)
    }
    if let limit = scratchDiskBytes, all.disk + more.disk > limit {
      throw .limitReached(
        "scratch-disk-limit: the daemon's live VMs may have \(ByteCount.format(limit)) of scratch disk; they have \(ByteCount.format(all.disk)) and the request asks for \(ByteCount.format(more.disk)) more (nothing was created)"
      )
    }
    if let limit = swapBytes, all.swap + more.swap > limit {
      throw .limitReached(
        "swap-limit: the swap files of the daemon's live VMs may take \(ByteCount.format(limit)); they can take \(ByteCount.format(all.swap)) and the request's \(ByteCount.format(more.swap)) more (each VM counts the most its swap file can take: about 4 times its memory plus 4MiB; nothing was created)"
      )
    }
  }
}

extension EngineLimits {
  /// Throws `.quotaExceeded` naming `key` when `held + more` bytes of `what` exceed `limit` (nil: no quota).
  fileprivate static func checkBytes(
    _ key: String, _ what: String, limit: UInt64?, held: UInt64, more: UInt64, who: String
  ) throws(ControlBackendError) {
    guard let limit, held + more > limit else { return }
    throw .quotaExceeded(
      "\(key): \(who) may have \(ByteCount.format(limit)) of \(what) in live VMs; it has \(ByteCount.format(held)) and asked for \(ByteCount.format(more)) more"
    )
  }
}

/// What a set of live (or reserved) VMs holds: their number, guest memory, scratch disk and worst-case swap.
struct EngineHoldings: Equatable, Codable {
  /// VMs.
  var vms = 0
  /// Guest memory, in bytes.
  var memory: UInt64 = 0
  /// Scratch disk, in bytes.
  var disk: UInt64 = 0
  /// The most their swap files can take, in bytes.
  var swap: UInt64 = 0

  /// Nothing.
  init() {}

  /// What `count` VMs of `memory` and `disk` bytes each hold. (Sizes come from validated requests or records:
  /// at most 1 GiB of memory and `DiskFile.maximumSize` of disk each, for at most a million VMs: no overflow.)
  init(count: Int, memory: UInt64, disk: UInt64) {
    vms = count
    self.memory = UInt64(count) * memory
    self.disk = UInt64(count) * disk
    swap = UInt64(count) * SwapFile.worstCaseDiskBytes(memorySize: memory)
  }

  /// These and `other` together.
  mutating func add(_ other: EngineHoldings) {
    vms += other.vms
    memory += other.memory
    disk += other.disk
    swap += other.swap
  }
}

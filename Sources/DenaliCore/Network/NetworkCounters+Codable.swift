// NetworkCounters+Codable.swift: a NIC's counters as the VM journal stores them (a VM's network use survives
// restarts), with drops keyed by reason name so that the encoding does not depend on the order of the cases.

extension NetworkCounters: Codable {
  private enum CodingKeys: String, CodingKey {
    case packetsIn, bytesIn, packetsOut, bytesOut, sendsDeferred, drops
  }

  /// Decodes counters; absent fields are zero, and drops under a reason this build does not know are ignored
  /// (a journal written by a newer daemon). Numbers are only ever added with wrapping arithmetic.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.init()
    packetsIn = try container.decodeIfPresent(UInt64.self, forKey: .packetsIn) ?? 0
    bytesIn = try container.decodeIfPresent(UInt64.self, forKey: .bytesIn) ?? 0
    packetsOut = try container.decodeIfPresent(UInt64.self, forKey: .packetsOut) ?? 0
    bytesOut = try container.decodeIfPresent(UInt64.self, forKey: .bytesOut) ?? 0
    sendsDeferred = try container.decodeIfPresent(UInt64.self, forKey: .sendsDeferred) ?? 0
    let named = try container.decodeIfPresent([String: UInt64].self, forKey: .drops) ?? [:]
    for reason in DropReason.allCases { self[reason] = named[reason.description] ?? 0 }
  }

  /// Encodes the counters, drops as an object of the reasons with a non-zero count.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(packetsIn, forKey: .packetsIn)
    try container.encode(bytesIn, forKey: .bytesIn)
    try container.encode(packetsOut, forKey: .packetsOut)
    try container.encode(bytesOut, forKey: .bytesOut)
    try container.encode(sendsDeferred, forKey: .sendsDeferred)
    try container.encode(dropsByName, forKey: .drops)
  }

  /// The drops with a non-zero count, by reason name (`spoofed`, `receive-queue-full`, ...).
  public var dropsByName: [String: UInt64] {
    var named: [String: UInt64] = [:]
    for reason in DropReason.allCases where self[reason] > 0 { named[reason.description] = self[reason] }
    return named
  }
}

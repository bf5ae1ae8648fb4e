// VMRecord.swift: the daemon's durable record of one VM, as the VM journal stores it.
import Foundation

/// How a VM's life ended, as the daemon records it.
public enum VMEnd: Codable, Equatable, Sendable {
  /// The guest terminated with this status.
  case exited(status: Int32)
  /// The guest faulted; the description is the fault's one-line message.
  case faulted(description: String)
  /// The VM was killed through the API.
  case killed
  /// The VM ran past its time limit.
  case timedOut
  /// The host failed it (not the guest's doing); the description says how.
  case hostFailed(description: String)
}

/// What a VM's current run started from.
public enum VMStartSource: String, Codable, Equatable, Sendable {
  /// Booted afresh from its image.
  case image
  /// Resumed from its swap file.
  case swap
}

/// The daemon's durable record of one VM.
public struct VMRecord: Codable, Equatable, Sendable {
  /// The VM's id (unique in the daemon, never reused).
  public var id: UInt64
  /// The name the request gave it, if any.
  public var name: String?
  /// The image path the request named (already resolved by the API layer), for display.
  public var imagePath: String
  /// The ImageStore key of the image's bytes.
  public var imageKey: String
  /// Guest memory size in bytes.
  public var memorySize: UInt64
  /// Disk size in bytes (the scratch disk's, or the read-only disk image's), nil for none.
  public var diskSize: UInt64?
  /// The ImageStore key of the read-only disk image the VM shares, nil for a scratch disk or none.
  public var diskImageKey: String?
  /// The disk image path the request named (resolved by the API layer), for display; set with `diskImageKey`.
  public var diskImagePath: String?
  /// The guest's command-line arguments.
  public var arguments: [String]
  /// Seconds since 1970.
  public var createdAt: Double
  /// When it ended (seconds since 1970); nil while live.
  public var endedAt: Double?
  /// How it ended; nil while live.
  public var end: VMEnd?
  /// What its current run started from (set by the engine at restart).
  public var startedFrom: VMStartSource
  /// Times the daemon restarted it (clean or after a crash).
  public var restarts: Int
  /// The console output kept for it (saved at clean shutdown; may be empty). Base64 in JSON.
  public var console: [UInt8]
  /// What its earlier runs used (before the last restart), or, once it ended, its whole life.
  public var usage: VMUsage
  /// Its IPv4 address on the daemon's virtual network, nil for a VM without a NIC. Given at creation and kept
  /// for the VM's whole life: across swaps, restarts and crashes (its MAC follows from it).
  public var address: IPv4Address?
  /// The uid of the user whose request created it (SO_PEERCRED on the control socket). Records written before
  /// VMs had owners have none: they read back as root's (0), so only administrators see them.
  public var owner: UInt32

  /// A record; a new VM is live (no end), started from its image, never restarted, with no console kept.
  public init(
    id: UInt64, name: String?, imagePath: String, imageKey: String, memorySize: UInt64, diskSize: UInt64?,
    arguments: [String], createdAt: Double, endedAt: Double? = nil, end: VMEnd? = nil,
    startedFrom: VMStartSource = .image, restarts: Int = 0, console: [UInt8] = [],
    usage: VMUsage = VMUsage(), address: IPv4Address? = nil, owner: UInt32 = 0, diskImageKey: String? = nil,
    diskImagePath: String? = nil
  ) {
    self.id = id
    self.name = name
    self.imagePath = imagePath
    self.imageKey = imageKey
    self.memorySize = memorySize
    self.diskSize = diskSize
    self.arguments = arguments
    self.createdAt = createdAt
    self.endedAt = endedAt
    self.end = end
    self.startedFrom = startedFrom
    self.restarts = restarts
    self.console = console
    self.usage = usage
    self.address = address
    self.owner = owner
    self.diskImageKey = diskImageKey
    self.diskImagePath = diskImagePath
  }

  private enum CodingKeys: String, CodingKey {
    case id, name, imagePath, imageKey, memorySize, diskSize, arguments, createdAt, endedAt, end, startedFrom,
      restarts, console, usage, address, owner, diskImageKey, diskImagePath
  }

  /// Decodes a record; `startedFrom`, `restarts`, `console` and `owner` (root, for a record older than owners)
  /// default when absent, `console` must be base64, `address`, when present, a dotted-quad IPv4 address, and
  /// `owner` a uid from 0 to 2^32-2 (JSON decoding refuses anything else; `problem` refuses -1 as a uid);
  /// `diskImageKey` and `diskImagePath` may be absent.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    id = try container.decode(UInt64.self, forKey: .id)
    name = try container.decodeIfPresent(String.self, forKey: .name)
    imagePath = try container.decode(String.self, forKey: .imagePath)
    imageKey = try container.decode(String.self, forKey: .imageKey)
    memorySize = try container.decode(UInt64.self, forKey: .memorySize)
    diskSize = try container.decodeIfPresent(UInt64.self, forKey: .diskSize)
    arguments = try container.decode([String].self, forKey: .arguments)
    createdAt = try container.decode(Double.self, forKey: .createdAt)
    endedAt = try container.decodeIfPresent(Double.self, forKey: .endedAt)
    end = try container.decodeIfPresent(VMEnd.self, forKey: .end)
    startedFrom = try container.decodeIfPresent(VMStartSource.self, forKey: .startedFrom) ?? .image
    restarts = try container.decodeIfPresent(Int.self, forKey: .restarts) ?? 0
    let base64 = try container.decodeIfPresent(String.self, forKey: .console) ?? ""
    guard let bytes = Data(base64Encoded: base64) else {
      throw DecodingError.dataCorruptedError(forKey: .console, in: container, debugDescription: "console is not base64")
    }
    console = [UInt8](bytes)
    usage = try container.decodeIfPresent(VMUsage.self, forKey: .usage) ?? VMUsage()
    if let text = try container.decodeIfPresent(String.self, forKey: .address) {
      guard text.utf8.count <= 15, let parsed = IPv4Address(text) else {
        throw DecodingError.dataCorruptedError(forKey: .address, in: container, debugDescription: "address is not IPv4")
      }
      address = parsed
    } else {
      address = nil
    }
    owner = try container.decodeIfPresent(UInt32.self, forKey: .owner) ?? 0
    diskImageKey = try container.decodeIfPresent(String.self, forKey: .diskImageKey)
    diskImagePath = try container.decodeIfPresent(String.self, forKey: .diskImagePath)
  }

  /// Encodes the record, with `console` as a base64 string and absent optionals left out.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encodeIfPresent(name, forKey: .name)
    try container.encode(imagePath, forKey: .imagePath)
    try container.encode(imageKey, forKey: .imageKey)
    try container.encode(memorySize, forKey: .memorySize)
    try container.encodeIfPresent(diskSize, forKey: .diskSize)
    try container.encode(arguments, forKey: .arguments)
    try container.encode(createdAt, forKey: .createdAt)
    try container.encodeIfPresent(endedAt, forKey: .endedAt)
    try container.encodeIfPresent(end, forKey: .end)
    try container.encode(startedFrom, forKey: .startedFrom)
    try container.encode(restarts, forKey: .restarts)
    try container.encode(Data(console).base64EncodedString(), forKey: .console)
    if usage != VMUsage() { try container.encode(usage, forKey: .usage) }
    try container.encodeIfPresent(address?.description, forKey: .address)
    try container.encode(owner, forKey: .owner)
    try container.encodeIfPresent(diskImageKey, forKey: .diskImageKey)
    try container.encodeIfPresent(diskImagePath, forKey: .diskImagePath)
  }
}

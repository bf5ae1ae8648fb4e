// VMCreationRequest.swift: a validated request to create VMs, as the engine receives it.

/// VMs to create, validated by the API layer: every size is within the configured limits.
public struct VMCreationRequest: Equatable, Sendable {
  /// The image, resolved inside an image directory and read once.
  public var image: ResolvedImage
  /// How many VMs (1 or more, at most the configured maximum).
  public var count: Int
  /// One name per VM, or nil for unnamed VMs.
  public var names: [String]?
  /// Guest memory per VM in bytes: a multiple of 2 MiB, within the configured maximum.
  public var memoryBytes: UInt64
  /// A scratch disk per VM of this many bytes (a multiple of 4 KiB), or nil for none (or for a disk image).
  public var diskBytes: UInt64?
  /// Arguments for every guest (no NUL; at most 4048 bytes with their terminators).
  public var arguments: [String]
  /// A NIC for every VM, or nil for none.
  public var network: VMNetworkRequest?
  /// A read-only disk image every VM shares (resolved inside an image directory and read once: a non-zero
  /// multiple of 4 KiB), or nil; never together with `diskBytes`.
  public var diskImage: ResolvedImage?
  /// Who asked: the VMs' owner (its uid), and whether per-user quotas apply (they do not to administrators).
  public var requester: ControlCaller

  /// A request to create `count` VMs.
  public init(
    image: ResolvedImage, count: Int, names: [String]?, memoryBytes: UInt64, diskBytes: UInt64?, arguments: [String],
    network: VMNetworkRequest? = nil, requester: ControlCaller = .root, diskImage: ResolvedImage? = nil
  ) {
    self.image = image
    self.count = count
    self.names = names
    self.memoryBytes = memoryBytes
    self.diskBytes = diskBytes
    self.arguments = arguments
    self.network = network
    self.requester = requester
    self.diskImage = diskImage
  }
}

/// The NIC a create request asks for.
public struct VMNetworkRequest: Equatable, Sendable {
  /// The address wanted, as the request gave it (the engine parses it and checks it against its network; the
  /// API layer checked only that it has the shape of a dotted quad); nil: the engine allocates one. Only with
  /// a count of 1.
  public var address: String?

  /// A NIC at `address`, or at an address the engine allocates.
  public init(address: String? = nil) { self.address = address }
}

/// A guest image found inside an image directory: its canonical path and its bytes, read once through a
/// descriptor opened without following symbolic links (so what the engine loads is what was checked).
public struct ResolvedImage: Equatable, Sendable {
  /// The canonical path (no symbolic links, no `..`), inside one of the image directories.
  public var path: String
  /// The file's contents.
  public var bytes: [UInt8]

  /// An image at `path` with these contents.
  public init(path: String, bytes: [UInt8]) {
    self.path = path
    self.bytes = bytes
  }
}

/// What a create request produced.
public struct VMCreationResult: Equatable, Sendable {
  /// The VMs created, in order.
  public var created: [VMInfo]
  /// Why the batch stopped before `count` VMs, nil when all were created.
  public var stoppedBy: ControlBackendError?

  /// A result with these VMs and, for a batch cut short, the reason.
  public init(created: [VMInfo], stoppedBy: ControlBackendError? = nil) {
    self.created = created
    self.stoppedBy = stoppedBy
  }
}

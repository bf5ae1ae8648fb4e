// CreateVMsBody.swift: the JSON body of POST /v1/vms, decoded strictly (unknown fields and nulls refused).

/// The body of a create request, before its values are checked against the limits.
public struct CreateVMsBody: Codable, Equatable, Sendable {
  /// Image path: relative to an image directory, or absolute inside one.
  public var image: String
  /// How many VMs (default 1).
  public var count: Int?
  /// A name; with `count` > 1 the VMs are named `NAME-K` for K from `first_index`.
  public var name: String?
  /// The first K of `NAME-K` (default 1); only with `name`.
  public var firstIndex: Int?
  /// Guest memory per VM, such as `"4MiB"` (default: the configured default).
  public var memory: String?
  /// A scratch disk for each VM, or a read-only disk image they share.
  public var disk: DiskBody?
  /// Arguments for every guest.
  public var arguments: [String]?
  /// A NIC on the daemon's virtual network for each VM.
  public var network: NetworkBody?

  /// A body asking for `count` VMs of `image`.
  public init(
    image: String, count: Int? = nil, name: String? = nil, firstIndex: Int? = nil, memory: String? = nil,
    disk: DiskBody? = nil, arguments: [String]? = nil, network: NetworkBody? = nil
  ) {
    self.image = image
    self.count = count
    self.name = name
    self.firstIndex = firstIndex
    self.memory = memory
    self.disk = disk
    self.arguments = arguments
    self.network = network
  }

  private enum CodingKeys: String, CodingKey, CaseIterable {
    case image, count, name
    case firstIndex = "first_index"
    case memory, disk, arguments, network
  }

  /// Refuses unknown fields and nulls; `image` is required.
  public init(from decoder: any Decoder) throws {
    try StrictDecoding.rejectUnknownKeys(in: decoder, known: Set(CodingKeys.allCases.map(\.rawValue)))
    let container = try decoder.container(keyedBy: CodingKeys.self)
    guard let image = try container.decodeStrictly(String.self, forKey: .image, field: "image") else {
      throw ControlError.missingField("image")
    }
    self.image = image
    count = try container.decodeInteger(forKey: .count, field: "count")
    name = try container.decodeStrictly(String.self, forKey: .name, field: "name")
    firstIndex = try container.decodeInteger(forKey: .firstIndex, field: "first_index")
    memory = try container.decodeStrictly(String.self, forKey: .memory, field: "memory")
    disk = try container.decodeStrictly(DiskBody.self, forKey: .disk, field: "disk")
    arguments = try container.decodeStrictly([String].self, forKey: .arguments, field: "arguments")
    network = try container.decodeStrictly(NetworkBody.self, forKey: .network, field: "network")
  }

  /// Writes only the fields that are set (the client's side).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(image, forKey: .image)
    try container.encodeIfPresent(count, forKey: .count)
    try container.encodeIfPresent(name, forKey: .name)
    try container.encodeIfPresent(firstIndex, forKey: .firstIndex)
    try container.encodeIfPresent(memory, forKey: .memory)
    try container.encodeIfPresent(disk, forKey: .disk)
    try container.encodeIfPresent(arguments, forKey: .arguments)
    try container.encodeIfPresent(network, forKey: .network)
  }
}

/// The `disk` object of a create request: a scratch disk per VM (`size`), or one read-only disk image shared by
/// every VM (`image`); exactly one of the two.
public struct DiskBody: Codable, Equatable, Sendable {
  /// Scratch disk size, such as `"16MiB"`: a multiple of 4 KiB; nil with `image`.
  public var size: String?
  /// A read-only disk image (for example a site image from `denalid disk pack`): a path relative to an image
  /// directory, or absolute inside one, as `image` is; nil with `size`.
  public var image: String?

  /// A scratch disk of `size`.
  public init(size: String) {
    self.size = size
    image = nil
  }

  /// The read-only disk image at `image`, shared by every VM of the request.
  public init(image: String) {
    size = nil
    self.image = image
  }

  private enum CodingKeys: String, CodingKey, CaseIterable { case size, image }

  /// Refuses unknown fields and nulls; exactly one of `size` and `image` is required.
  public init(from decoder: any Decoder) throws {
    try StrictDecoding.rejectUnknownKeys(in: decoder, known: ["size", "image"], path: "disk.")
    let container = try decoder.container(keyedBy: CodingKeys.self)
    size = try container.decodeStrictly(String.self, forKey: .size, field: "disk.size")
    image = try container.decodeStrictly(String.self, forKey: .image, field: "disk.image")
    switch (size, image) {
    case (nil, nil): throw ControlError.missingField("disk.size")
    case (.some, .some):
      throw ControlError.invalidField(
        "disk", "takes 'size' (a scratch disk) or 'image' (a read-only disk image), not both")
    default: break
    }
  }

  /// Writes only the field that is set.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encodeIfPresent(size, forKey: .size)
    try container.encodeIfPresent(image, forKey: .image)
  }
}

/// The `network` object of a create request: a NIC for each VM, with an address the daemon allocates, or the
/// one asked for (one VM only).
public struct NetworkBody: Codable, Equatable, Sendable {
  /// The IPv4 address wanted (dotted quad, inside the daemon's network); nil: the daemon allocates one.
  public var address: String?

  /// A NIC, at `address` when given.
  public init(address: String? = nil) { self.address = address }

  private enum CodingKeys: String, CodingKey, CaseIterable { case address }

  /// Refuses unknown fields and nulls; every field is optional (`{}` asks for an allocated address).
  public init(from decoder: any Decoder) throws {
    try StrictDecoding.rejectUnknownKeys(in: decoder, known: ["address"], path: "network.")
    let container = try decoder.container(keyedBy: CodingKeys.self)
    address = try container.decodeStrictly(String.self, forKey: .address, field: "network.address")
  }
}

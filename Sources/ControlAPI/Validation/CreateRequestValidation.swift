// CreateRequestValidation.swift: checks a decoded create body against the limits and makes the engine's request.

extension CreateVMsBody {
  /// The engine's request for this body: every value checked against `limits`, names expanded, the image
  /// resolved and read through `images` (checked last, since it touches the file system).
  public func validated(limits: ControlLimits, images: ImageResolver) throws(ControlError) -> VMCreationRequest {
    let count = self.count ?? 1
    guard count >= 1, count <= limits.maximumVMsPerRequest else {
      throw .invalidField("count", "must be between 1 and \(limits.maximumVMsPerRequest), not \(count)")
    }
    let names = try expandedNames(count: count)
    let memoryBytes =
      try Self.size(
        memory, field: "memory", granularity: ControlLimits.memoryGranularity, granularityText: "2MiB",
        maximum: limits.maximumMemoryPerVM) ?? limits.defaultMemoryPerVM
    let diskBytes = try disk.flatMap { disk throws(ControlError) in
      try Self.size(
        disk.size, field: "disk.size", granularity: ControlLimits.diskGranularity, granularityText: "4KiB",
        maximum: limits.maximumDiskPerVM)
    }
    let arguments = self.arguments ?? []
    guard arguments.count <= ControlLimits.maximumArguments else {
      throw .invalidField("arguments", "has \(arguments.count) items; at most \(ControlLimits.maximumArguments)")
    }
    if let index = arguments.firstIndex(where: { $0.utf8.contains(0) }) {
      throw .invalidField("arguments[\(index)]", "contains a NUL byte")
    }
    let argumentBytes = (arguments.count + 1) * 8 + arguments.reduce(0) { $0 + $1.utf8.count + 1 }
    guard argumentBytes <= ControlLimits.argumentBytes else {
      throw .invalidField(
        "arguments", "need \(argumentBytes) bytes in the guest's boot page; at most \(ControlLimits.argumentBytes)")
    }
    let network = try network.map { network throws(ControlError) -> VMNetworkRequest in
      if let address = network.address {
        guard count == 1 else {
          throw .invalidField("network.address", "names one VM's address: it needs a count of 1, not \(count)")
        }
        guard Self.looksLikeIPv4(address) else {
          throw .invalidField(
            "network.address", "must be an IPv4 address such as \"10.0.5.5\", not '\(address.prefix(64))'")
        }
      }
      return VMNetworkRequest(address: network.address)
    }
    let image = try images.resolve(self.image)
    let diskImage = try disk?.image.map { path throws(ControlError) in try Self.diskImage(path, images: images) }
    return VMCreationRequest(
      image: image, count: count, names: names, memoryBytes: memoryBytes, diskBytes: diskBytes, arguments: arguments,
      network: network, diskImage: diskImage)
  }

  /// The read-only disk image at `path`: resolved and read as an image is (inside an image directory, no `..`, no
  /// link out, a regular file of at most 64 MiB), and a whole number of 4 KiB blocks, at least one.
  private static func diskImage(_ path: String, images: ImageResolver) throws(ControlError) -> ResolvedImage {
    let resolved = try images.resolve(path, field: "disk.image")
    let granularity = Int(ControlLimits.diskGranularity)
    guard !resolved.bytes.isEmpty, resolved.bytes.count % granularity == 0 else {
      throw .invalidField(
        "disk.image",
        "'\(path.prefix(120))' has \(resolved.bytes.count) bytes: a disk image is a non-zero multiple of 4KiB")
    }
    return resolved
  }

  /// Whether `text` has the shape of a dotted quad: four groups of one to three digits (the engine parses it).
  private static func looksLikeIPv4(_ text: String) -> Bool {
    let groups = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    return groups.count == 4
      && groups.allSatisfy { group in
        (1...3).contains(group.count) && group.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
      }
  }

  /// `name` alone for one VM, `name-K` for K from `first_index` for several; nil for unnamed VMs.
  private func expandedNames(count: Int) throws(ControlError) -> [String]? {
    guard let name else {
      if firstIndex != nil { throw .invalidField("first_index", "needs 'name'") }
      return nil
    }
    guard VMName.isValid(name) else {
      throw .invalidField(
        "name", "must be 1-\(VMName.maximumLength) characters: a letter, then letters, digits, '.', '_' or '-'")
    }
    let first = firstIndex ?? 1
    guard first >= 0, first <= 1_000_000_000 else {
      throw .invalidField("first_index", "must be between 0 and 1000000000, not \(first)")
    }
    if count == 1 && firstIndex == nil { return [name] }
    let names = (0..<count).map { "\(name)-\(first + $0)" }
    if let long = names.first(where: { $0.utf8.count > VMName.maximumLength }) {
      throw .invalidField("name", "makes the name '\(long)', longer than \(VMName.maximumLength) characters")
    }
    return names
  }

  /// Parses a size field and checks its granularity and maximum; nil when the field is absent.
  private static func size(
    _ text: String?, field: String, granularity: UInt64, granularityText: String, maximum: UInt64
  ) throws(ControlError) -> UInt64? {
    guard let text else { return nil }
    guard let bytes = ByteCount.parse(text) else {
      throw .invalidField(field, "must be a size such as \"4MiB\" (digits, then B, KiB, MiB or GiB), not '\(text)'")
    }
    guard bytes >= granularity, bytes % granularity == 0 else {
      throw .invalidField(field, "must be a positive multiple of \(granularityText), not \(text)")
    }
    guard bytes <= maximum else {
      throw .invalidField(field, "\(text) is over this daemon's limit of \(ByteCount.format(maximum))")
    }
    return bytes
  }
}

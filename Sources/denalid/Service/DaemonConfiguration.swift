// DaemonConfiguration.swift: the settings of `denalid serve`: documented defaults, the file format, validation.
import ControlAPI
import DenaliCore
import DenaliEngine
import Foundation
import SystemCalls

/// Everything `denalid serve` is configured with. Defaults are those documented in Config/denalid.conf;
/// the file overrides them, and flags override the file.
struct DaemonConfiguration: Equatable {
  /// The control API's unix socket.
  var socketPath = "/run/denali/denalid.sock"
  /// The group owning the socket (mode 0660); empty: the daemon's own group.
  var socketGroup = "denali"
  /// The group whose members (with root) see and act on every VM and have no per-user quota; nil: root only.
  var adminGroup: String?
  /// Directories images may be loaded from, searched in order.
  var imageDirectories = ["/var/lib/denali/images"]
  /// Where swap files and the VM table live.
  var stateDirectory = "/var/lib/denali"
  /// Guest memory the gatekeeper keeps resident at most, in bytes.
  var memoryBudget: UInt64 = 16 << 30
  /// Largest guest memory one VM may have, in bytes (at most 1 GiB, the ABI's limit).
  var maximumMemoryPerVM: UInt64 = 1 << 30
  /// Guest memory when a request gives none, in bytes.
  var defaultMemoryPerVM: UInt64 = 4 << 20
  /// Largest scratch disk one VM may have, in bytes.
  var maximumDiskPerVM: UInt64 = 1 << 30
  /// Most VMs the daemon keeps at once.
  var maximumVMs = 20_000
  /// Most VMs one create request may ask for (capped at `maximumVMs`).
  var maximumVMsPerRequest = 10_000
  /// Most live VMs per user who is not an administrator; nil: no quota.
  var quotaVMs: Int?
  /// Most guest memory of one such user's live VMs, in bytes; nil: no quota.
  var quotaMemory: UInt64?
  /// Most scratch disk of one such user's live VMs, in bytes; nil: no quota.
  var quotaDisk: UInt64?
  /// Most scratch disk of all live VMs together, in bytes; nil: no limit.
  var scratchDiskLimit: UInt64?
  /// Most disk the swap files of all live VMs can take together (each at its worst case), in bytes; nil: no limit.
  var swapLimit: UInt64?
  /// Largest request body, in bytes.
  var maximumBodySize = 64 << 10
  /// Worker threads running vCPUs; 0: one per core.
  var workers = 0
  /// Processes the VMs are spread over (1: every VM in the daemon's own process).
  var vmProcesses = 1
  /// Threads serving backend calls for the control API.
  var apiThreads = 4
  /// Threads doing swap I/O.
  var swapThreads = 4
  /// Finished VMs kept for `list` and `inspect` (the oldest are forgotten first).
  var keptFinishedVMs = 1000
  /// Console output kept per VM, in bytes.
  var consoleBytes: UInt64 = 8 << 10
  /// Least severe level logged: trace, debug, info, notice, warning, error, critical.
  var logLevel = "info"
  /// The VMs' subnet; nil: no network (VMs cannot have NICs).
  var network: IPv4Subnet?
  /// The TAP device joining the network to the host; nil: no uplink.
  var uplinkTap: String?
  /// The host's address on the uplink (the VMs' gateway); nil: the network's first host address.
  var uplinkAddress: IPv4Address?
  /// The prefix `uplink-address` was given with, if any (it must be the network's).
  var uplinkPrefix: Int?
  /// `vm-to-vm = deny`: VMs reach only the uplink, never each other (the hosting default).
  var isolatesVMs = true
  /// Frames each VM's receive queue holds (`receive-queue`).
  var receiveQueueFrames = NetworkPort.Limits.defaultReceiveFrames
  /// Bytes of frames all VMs' receive queues hold together (`receive-memory`).
  var receiveMemory = UInt64(VirtualSwitch.Configuration.defaultReceiveMemoryBytes)

  /// Where `denalid serve` looks for its file when `--config` is not given.
  static let defaultPath = "/etc/denali/denalid.conf"

  /// Every key of the file (and flag of `serve`), in the order Config/denalid.conf documents them.
  static var keys: [String] { ConfigurationKey.all.map(\.name) }

  /// The request limits the control API enforces.
  var limits: ControlLimits {
    ControlLimits(
      maximumBodyBytes: maximumBodySize, maximumMemoryPerVM: maximumMemoryPerVM, defaultMemoryPerVM: defaultMemoryPerVM,
      maximumDiskPerVM: maximumDiskPerVM, maximumVMsPerRequest: min(maximumVMsPerRequest, maximumVMs))
  }

  /// Sets `key` to the text `value` (from the file or a flag); `image-dir` appends. Throws with what is wrong.
  mutating func set(_ key: String, _ value: String) throws(ConfigurationError) {
    guard let entry = ConfigurationKey.named(key) else { throw .unknownKey(key) }
    try entry.set(&self, value)
  }

  /// The host's address on the uplink with the network's prefix: `uplink-address`, else the network's first
  /// host address; nil without a network.
  var effectiveUplinkAddress: IPv4Subnet? {
    guard let network else { return nil }
    let address = uplinkAddress ?? IPv4Address(value: network.network.value &+ 1)
    return IPv4Subnet(address: address, prefixLength: network.prefixLength)
  }

  /// Reads a file of `key = value` lines (`#` starts a comment; `image-dir` may repeat, and the file's
  /// directories replace the default list).
  mutating func load(file path: String) throws(ConfigurationError) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw .cannotRead(path, SystemCallError.text(for: errno))
    }
    defer { try? handle.close() }
    let data: Data
    do {
      // One byte more than the limit tells a file that is too large without reading it all (or /dev/zero forever).
      data = try handle.read(upToCount: (1 << 20) + 1) ?? Data()
    } catch {
      throw .cannotRead(path, "\(error)")
    }
    guard data.count <= 1 << 20, let text = String(data: data, encoding: .utf8) else {
      throw .cannotRead(path, "not a UTF-8 text file of at most 1 MiB")
    }
    var sawImageDirectory = false
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      guard let equals = trimmed.firstIndex(of: "=") else {
        throw .syntax(path, line: index + 1, "expected key = value")
      }
      let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
      let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
      if key == "image-dir" && !sawImageDirectory {
        imageDirectories = []
        sawImageDirectory = true
      }
      do {
        try set(key, value)
      } catch {
        throw .inFile(path, line: index + 1, error.description)
      }
    }
  }

  /// Checks the values against each other and the hard limits.
  func validate() throws(ConfigurationError) {
    guard socketPath.hasPrefix("/"), socketPath.utf8.count < 108 else {
      throw .invalid("socket must be an absolute path shorter than 108 bytes")
    }
    guard !imageDirectories.isEmpty, imageDirectories.allSatisfy({ $0.hasPrefix("/") }) else {
      throw .invalid("image-dir must name at least one absolute directory")
    }
    guard stateDirectory.hasPrefix("/") else { throw .invalid("state-dir must be an absolute path") }
    let memoryStep: UInt64 = 2 << 20
    guard maximumMemoryPerVM >= memoryStep, maximumMemoryPerVM <= 1 << 30, maximumMemoryPerVM % memoryStep == 0 else {
      throw .invalid("max-memory-per-vm must be a multiple of 2MiB from 2MiB to 1GiB")
    }
    guard defaultMemoryPerVM >= memoryStep, defaultMemoryPerVM <= maximumMemoryPerVM,
      defaultMemoryPerVM % memoryStep == 0
    else { throw .invalid("default-memory must be a multiple of 2MiB, at most max-memory-per-vm") }
    guard maximumDiskPerVM >= 4096, maximumDiskPerVM % 4096 == 0, maximumDiskPerVM <= DiskFile.maximumSize else {
      throw .invalid("max-disk-per-vm must be a multiple of 4KiB, at most \(ByteCount.format(DiskFile.maximumSize))")
    }
    guard memoryBudget >= memoryStep else { throw .invalid("memory-budget must be at least 2MiB") }
    guard maximumVMs >= 1, maximumVMs <= 1_000_000 else { throw .invalid("max-vms must be from 1 to 1000000") }
    guard maximumVMsPerRequest >= 1, maximumVMsPerRequest <= 1_000_000 else {
      throw .invalid("max-vms-per-request must be from 1 to 1000000 (it is capped at max-vms)")
    }
    guard maximumBodySize >= 1024, maximumBodySize <= 16 << 20 else {
      throw .invalid("max-body-size must be from 1KiB to 16MiB")
    }
    if let quotaVMs, quotaVMs < 1 || quotaVMs > 1_000_000 {
      throw .invalid("quota-vms must be from 1 to 1000000, or none")
    }
    guard workers <= 1024 else { throw .invalid("workers must be from 0 (one per core) to 1024") }
    guard vmProcesses >= 1, vmProcesses <= 64 else { throw .invalid("vm-processes must be from 1 to 64") }
    guard apiThreads >= 1, apiThreads <= 64 else { throw .invalid("api-threads must be from 1 to 64") }
    guard swapThreads >= 1, swapThreads <= 64 else { throw .invalid("swap-threads must be from 1 to 64") }
    guard keptFinishedVMs <= 1_000_000 else { throw .invalid("keep-finished must be from 0 to 1000000") }
    guard consoleBytes >= 256, consoleBytes <= 1 << 20 else {
      throw .invalid("console-buffer must be from 256B to 1MiB")
    }
    guard LogLevelName.parse(logLevel) != nil else {
      throw .invalid("log-level must be one of \(LogLevelName.all.joined(separator: ", "))")
    }
    try validateNetwork()
  }

  /// Checks `network`, `uplink` and `uplink-address` against each other.
  private func validateNetwork() throws(ConfigurationError) {
    guard receiveQueueFrames >= 16, receiveQueueFrames <= 65_536 else {
      throw .invalid("receive-queue must be from 16 to 65536 frames, not \(receiveQueueFrames)")
    }
    guard receiveMemory >= 1 << 20, receiveMemory <= 64 << 30 else {
      throw .invalid("receive-memory must be from 1MiB to 64GiB, not \(ByteCount.format(receiveMemory))")
    }
    guard let network else {
      if uplinkTap != nil { throw .invalid("uplink needs a network: set network = SUBNET (such as 10.0.0.0/16)") }
      if uplinkAddress != nil { throw .invalid("uplink-address needs network = SUBNET and uplink = tap NAME") }
      return
    }
    guard network.prefixLength >= 8, network.prefixLength <= 30 else {
      throw .invalid("network: the prefix must be from /8 to /30, not /\(network.prefixLength)")
    }
    guard let address = uplinkAddress else { return }
    guard uplinkTap != nil else { throw .invalid("uplink-address needs uplink = tap NAME") }
    guard network.contains(address), address != network.network, address != network.broadcast else {
      throw .invalid("uplink-address \(address) is not a host address of network \(network)")
    }
    if let prefix = uplinkPrefix, prefix != network.prefixLength {
      throw .invalid("uplink-address \(address)/\(prefix) must have the network's prefix /\(network.prefixLength)")
    }
  }

  /// The configuration as the file would state it (for `denalid serve --check-config`).
  var rendered: String {
    ConfigurationKey.all.flatMap { key in key.values(self).map { "\(key.name) = \($0)" } }.joined(separator: "\n")
      + "\n"
  }
}

/// A configuration file or flag that cannot be used.
enum ConfigurationError: Error, CustomStringConvertible {
  /// The file cannot be read.
  case cannotRead(String, String)
  /// A line is not `key = value`.
  case syntax(String, line: Int, String)
  /// No such key.
  case unknownKey(String)
  /// A value of the wrong form.
  case badValue(String, String, String)
  /// An error on a line of a file.
  case inFile(String, line: Int, String)
  /// Values that do not fit together or exceed hard limits.
  case invalid(String)
  /// A command-line word that is not `--key value`.
  case unexpectedArgument(String)

  /// The message.
  var description: String {
    switch self {
    case .cannotRead(let path, let detail): "cannot read configuration file \(path): \(detail)"
    case .syntax(let path, let line, let detail): "\(path):\(line): \(detail)"
    case .unknownKey(let key):
      "unknown configuration key '\(key)' (keys: \(DaemonConfiguration.keys.joined(separator: ", ")))"
    case .badValue(let key, let value, let expected): "\(key) = \(value): expected \(expected)"
    case .inFile(let path, let line, let detail): "\(path):\(line): \(detail)"
    case .invalid(let detail): "invalid configuration: \(detail)"
    case .unexpectedArgument(let word):
      "unexpected argument '\(word)' (flags are --KEY VALUE; see denalid serve --help)"
    }
  }
}

extension DaemonConfiguration {
  /// VM process `index`'s engine (of `vmProcesses`): process 0 keeps the state directory itself (so a daemon that
  /// had one process keeps its VMs), process k its folder `vm-process-k` in it; each gives out ids from its own
  /// range, holds an equal share of the memory budget, the swap threads and the finished VMs kept; the VM
  /// limit and quotas stay whole (the daemon checks them across all processes before a create).
  func engine(vmProcess index: Int) -> EngineConfiguration {
    var configuration = engine
    let count = max(1, vmProcesses)
    if index > 0 { configuration.stateDirectory = Self.vmProcessDirectory(stateDirectory, index) }
    configuration.firstID = WorkerPoolBackend.firstID(process: index)
    configuration.memoryBudget = max(2 << 20, memoryBudget / UInt64(count) / (2 << 20) * (2 << 20))
    configuration.swapThreads = max(1, swapThreads / count)
    configuration.keptFinishedVMs = (keptFinishedVMs + count - 1) / count
    if count > 1, configuration.network != nil {
      // Each process's switch gives out its own part of the addresses and reaches the daemon's hub (which keeps
      // the TAP device) through its trunk.
      configuration.network?.partition = AddressPartition(index: index, count: count)
      configuration.network?.trunkDescriptor = VMProcessLauncher.trunkDescriptor
      // receive-memory bounds the daemon's frames in all: each process's switch holds its share.
      configuration.network?.receiveMemoryBytes = max(1 << 20, Int(clamping: receiveMemory) / count)
    }
    return configuration
  }

  /// The state directory of VM process `index` (above 0) under the daemon's `root`.
  static func vmProcessDirectory(_ root: String, _ index: Int) -> String { root + "/" + vmProcessFolder(index) }

  /// The name of VM process `index`'s folder in the state directory.
  static func vmProcessFolder(_ index: Int) -> String { "vm-process-\(index)" }

  /// The VM process whose folder `name` is: only the names `vmProcessFolder` gives (no sign, no leading zero,
  /// within Int); nil for any other name.
  static func vmProcessIndex(ofFolder name: String) -> Int? {
    let prefix = "vm-process-"
    guard name.hasPrefix(prefix), let index = Int(name.dropFirst(prefix.count)), index > 0,
      vmProcessFolder(index) == name
    else { return nil }
    return index
  }

  /// The engine's share of the configuration.
  var engine: EngineConfiguration {
    EngineConfiguration(
      stateDirectory: stateDirectory, workers: workers, memoryBudget: memoryBudget, swapThreads: swapThreads,
      maximumVMs: maximumVMs, keptFinishedVMs: keptFinishedVMs, consoleBytes: consoleBytes,
      limits: EngineLimits(
        vmsPerUser: quotaVMs, memoryPerUser: quotaMemory, diskPerUser: quotaDisk, scratchDiskBytes: scratchDiskLimit,
        swapBytes: swapLimit),
      network: network.map { subnet in
        EngineNetworkConfiguration(
          subnet: subnet,
          uplink: uplinkTap.flatMap { tap in
            effectiveUplinkAddress.map { EngineNetworkConfiguration.Uplink(tapName: tap, address: $0) }
          },
          isolatesVMs: isolatesVMs, receiveQueueFrames: receiveQueueFrames,
          receiveMemoryBytes: Int(clamping: receiveMemory))
      })
  }
}

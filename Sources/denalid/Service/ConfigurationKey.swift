// ConfigurationKey.swift: every key of `denalid serve`'s configuration, defined once: its name (in the file and
// as a flag), its help, how its text is read and how its value is written back. The defaults are
// DaemonConfiguration's initial values; Config/denalid.conf states each (a test holds them equal).
import ControlAPI
import DenaliCore

/// One configuration key.
struct ConfigurationKey: Sendable {
  /// The key in the file, and `--name` on the command line.
  let name: String
  /// One line of help (in `serve --help` and checked against Config/denalid.conf).
  let help: String
  /// Reads `value` into the configuration (`image-dir` appends); throws with what is wrong.
  let set: @Sendable (inout DaemonConfiguration, String) throws(ConfigurationError) -> Void
  /// The key's value(s) as the file would state them.
  let values: @Sendable (DaemonConfiguration) -> [String]

  /// The key called `name`, if there is one.
  static func named(_ name: String) -> ConfigurationKey? { all.first { $0.name == name } }

  /// Every key, in the order Config/denalid.conf documents them.
  static let all: [ConfigurationKey] = [
    text("socket", "The control API's unix socket.", \.socketPath),
    text("socket-group", "Group owning the socket (mode 0660); empty: the daemon's own group.", \.socketGroup),
    ConfigurationKey(
      name: "image-dir", help: "A directory images may come from (repeat for several; replaces the defaults).",
      set: { configuration, value in configuration.imageDirectories.append(value) },
      values: { $0.imageDirectories }),
    text("state-dir", "Directory for swap files, the VM table, stored images and scratch disks.", \.stateDirectory),
    size("memory-budget", "Guest memory kept resident at most (e.g. 16GiB).", \.memoryBudget),
    size("max-memory-per-vm", "Largest guest memory per VM (a multiple of 2MiB, at most 1GiB).", \.maximumMemoryPerVM),
    size("default-memory", "Guest memory when a request gives none.", \.defaultMemoryPerVM),
    size("max-disk-per-vm", "Largest scratch disk per VM.", \.maximumDiskPerVM),
    count("max-vms", "Most VMs the daemon keeps at once (finished ones make room, oldest first).", \.maximumVMs),
    count("max-vms-per-request", "Most VMs one create request may ask for.", \.maximumVMsPerRequest),
    ConfigurationKey(
      name: "admin-group",
      help: "Group whose members (with root and the daemon's user) see and act on every VM, without quotas; or none.",
      set: { configuration, value in configuration.adminGroup = value == "none" || value.isEmpty ? nil : value },
      values: { [$0.adminGroup ?? "none"] }),
    ConfigurationKey(
      name: "quota-vms", help: "Most live VMs per user who is not an admin, or none.",
      set: { configuration, value throws(ConfigurationError) in
        guard value != "none" else {
          configuration.quotaVMs = nil
          return
        }
        guard let number = Int(value), number >= 0 else {
          throw .badValue("quota-vms", value, "a whole number, or none")
        }
        configuration.quotaVMs = number
      },
      values: { [$0.quotaVMs.map(String.init) ?? "none"] }),
    optionalSize(
      "quota-memory", "Most guest memory of one non-admin user's live VMs (e.g. 4GiB), or none.", \.quotaMemory),
    optionalSize("quota-disk", "Most scratch disk of one non-admin user's live VMs, or none.", \.quotaDisk),
    optionalSize(
      "scratch-disk-limit", "Most scratch disk of all live VMs together (e.g. 500GiB), or none.", \.scratchDiskLimit),
    optionalSize(
      "swap-limit", "Most disk all live VMs' swap files can take (each counted at its worst case), or none.",
      \.swapLimit),
    ConfigurationKey(
      name: "max-body-size", help: "Largest request body (e.g. 64KiB).",
      set: { configuration, value throws(ConfigurationError) in
        let bytes = try parseSize("max-body-size", value)
        guard bytes <= UInt64(Int.max) else { throw .badValue("max-body-size", value, "a size") }
        configuration.maximumBodySize = Int(bytes)
      },
      values: { [ByteCount.format(UInt64($0.maximumBodySize))] }),
    count("workers", "Worker threads running vCPUs (0: one per core).", \.workers),
    count(
      "vm-processes", "Processes the VMs are spread over, each with its own KVM state (1: all in the daemon).",
      \.vmProcesses),
    count("api-threads", "Threads serving control API calls to the engine.", \.apiThreads),
    count("swap-threads", "Threads doing swap I/O.", \.swapThreads),
    count("keep-finished", "Finished VMs kept for list and inspect.", \.keptFinishedVMs),
    size("console-buffer", "Console output kept per VM (e.g. 8KiB).", \.consoleBytes),
    text("log-level", "trace, debug, info, notice, warning, error or critical.", \.logLevel),
    ConfigurationKey(
      name: "network", help: "The VMs' subnet (e.g. 10.0.0.0/16), or none: VMs may then have NICs (spawn --network).",
      set: { configuration, value throws(ConfigurationError) in
        guard value != "none" else {
          configuration.network = nil
          return
        }
        guard let subnet = IPv4Subnet(value), subnet.address == subnet.network else {
          throw .badValue("network", value, "a subnet such as 10.0.0.0/16 (host bits zero), or none")
        }
        configuration.network = subnet
      },
      values: { [$0.network?.description ?? "none"] }),
    ConfigurationKey(
      name: "uplink", help: "The daemon's uplink to the host: tap NAME (created at start), or none.",
      set: { configuration, value throws(ConfigurationError) in
        let words = value.split(separator: " ", omittingEmptySubsequences: true)
        if words == ["none"] {
          configuration.uplinkTap = nil
        } else if words.count == 2, words[0] == "tap", words[1].utf8.count <= 15, !words[1].contains("/") {
          configuration.uplinkTap = String(words[1])
        } else {
          throw .badValue("uplink", value, "tap NAME (an interface name of 1-15 bytes), or none")
        }
      },
      values: { [$0.uplinkTap.map { "tap \($0)" } ?? "none"] }),
    ConfigurationKey(
      name: "uplink-address",
      help: "The host side of the uplink, the VMs' gateway; auto: the subnet's first host address.",
      set: { configuration, value throws(ConfigurationError) in
        if value == "auto" {
          (configuration.uplinkAddress, configuration.uplinkPrefix) = (nil, nil)
        } else if let subnet = IPv4Subnet(value) {
          (configuration.uplinkAddress, configuration.uplinkPrefix) = (subnet.address, subnet.prefixLength)
        } else if let address = IPv4Address(value) {
          (configuration.uplinkAddress, configuration.uplinkPrefix) = (address, nil)
        } else {
          throw .badValue(
            "uplink-address", value, "auto, or an address such as 10.0.0.1/16 (the network's prefix may be left out)")
        }
      },
      values: { configuration in
        // With an uplink, the address in effect; else what was given.
        if configuration.uplinkTap != nil, let address = configuration.effectiveUplinkAddress { return ["\(address)"] }
        guard let address = configuration.uplinkAddress else { return ["auto"] }
        return [configuration.uplinkPrefix.map { "\(address)/\($0)" } ?? "\(address)"]
      }),
    ConfigurationKey(
      name: "vm-to-vm", help: "allow, or deny: VMs reach only the uplink, never each other (the hosting default).",
      set: { configuration, value throws(ConfigurationError) in
        switch value {
        case "allow": configuration.isolatesVMs = false
        case "deny": configuration.isolatesVMs = true
        default: throw .badValue("vm-to-vm", value, "allow or deny")
        }
      },
      values: { [$0.isolatesVMs ? "deny" : "allow"] }),
    count(
      "receive-queue", "Frames each VM's receive queue holds (16-65536); more are dropped and counted.",
      \.receiveQueueFrames),
    size(
      "receive-memory", "Bytes of frames all VMs' receive queues hold together (1MiB-64GiB).", \.receiveMemory),
  ]

  /// A key holding text as given.
  private static func text(
    _ name: String, _ help: String, _ field: WritableKeyPath<DaemonConfiguration, String> & Sendable
  ) -> ConfigurationKey {
    ConfigurationKey(
      name: name, help: help, set: { configuration, value in configuration[keyPath: field] = value },
      values: { [$0[keyPath: field]] })
  }

  /// A key holding a byte size (`4MiB`).
  private static func size(
    _ name: String, _ help: String, _ field: WritableKeyPath<DaemonConfiguration, UInt64> & Sendable
  ) -> ConfigurationKey {
    ConfigurationKey(
      name: name, help: help,
      set: { configuration, value throws(ConfigurationError) in
        configuration[keyPath: field] = try parseSize(name, value)
      },
      values: { [ByteCount.format($0[keyPath: field])] })
  }

  /// A key holding a byte size, or `none` (nil).
  private static func optionalSize(
    _ name: String, _ help: String, _ field: WritableKeyPath<DaemonConfiguration, UInt64?> & Sendable
  ) -> ConfigurationKey {
    ConfigurationKey(
      name: name, help: help,
      set: { configuration, value throws(ConfigurationError) in
        configuration[keyPath: field] = value == "none" ? nil : try parseSize(name, value)
      },
      values: { [$0[keyPath: field].map { ByteCount.format($0) } ?? "none"] })
  }

  /// A key holding a whole number of at least 0.
  private static func count(
    _ name: String, _ help: String, _ field: WritableKeyPath<DaemonConfiguration, Int> & Sendable
  ) -> ConfigurationKey {
    ConfigurationKey(
      name: name, help: help,
      set: { configuration, value throws(ConfigurationError) in
        guard let number = Int(value), number >= 0 else { throw .badValue(name, value, "a whole number") }
        configuration[keyPath: field] = number
      },
      values: { ["\($0[keyPath: field])"] })
  }

  /// `value` as a byte size for key `name`.
  private static func parseSize(_ name: String, _ value: String) throws(ConfigurationError) -> UInt64 {
    guard let bytes = ByteCount.parse(value) else { throw .badValue(name, value, "a size such as 4MiB") }
    return bytes
  }
}

// SpawnCommand.swift: `denalid spawn IMAGE [--count N] ...`: create VMs through the daemon, in batches.
import ArgumentParser
import ControlAPI
import DenaliCommandLine
import Foundation

/// `denalid spawn IMAGE [--count N] [--memory SIZE] [--name NAME] [--disk-size SIZE | --disk-image FILE]
/// [--network [--address A]] [-- ARGS...]`.
struct SpawnCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "spawn",
    abstract: "Create VMs in the running daemon.",
    discussion: """
      IMAGE is a file inside one of the daemon's image directories: a local path to it, or a path relative to an
      image directory. With --count N and --name NAME the VMs are named NAME-1 ... NAME-N. Large counts are sent
      in batches (--batch), with a progress bar when standard error is a terminal. --network gives each VM a NIC
      on the daemon's network, with an address the daemon allocates (or --address A, for one VM); the address
      stays the VM's across swaps and restarts until it ends. --disk-image FILE gives every VM the same read-only
      disk (a file inside an image directory, such as a site image from `denalid disk pack`; the daemon keeps a
      copy of it). Everything after -- goes to every guest.
      """
  )

  @OptionGroup var options: ClientOptions

  @Argument(help: "The guest image.")
  var image: String

  @Option(help: "How many VMs.")
  var count: Int = 1

  @Option(help: "Guest memory per VM (a multiple of 2MiB; default: the daemon's).")
  var memory: String?

  @Option(help: "Name (with --count > 1: NAME-1, NAME-2, ...).")
  var name: String?

  @Option(help: "A scratch disk of this size for each VM (a multiple of 4KiB).")
  var diskSize: String?

  @Option(help: "A read-only disk image all the VMs share (inside an image directory, as IMAGE; a multiple of 4KiB).")
  var diskImage: String?

  @Option(help: "VMs per request.")
  var batch: Int = 250

  @Flag(help: "Give each VM a NIC on the daemon's network (its address is allocated by the daemon).")
  var network = false

  @Option(help: "The IPv4 address the VM gets on the daemon's network (implies --network; one VM only).")
  var address: String?

  func validate() throws {
    guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be between 1 and 1000000") }
    guard batch >= 1, batch <= 10_000 else { throw ValidationError("--batch must be between 1 and 10000") }
    if address != nil && count != 1 { throw ValidationError("--address names one VM's address: it needs --count 1") }
    if diskSize != nil && diskImage != nil {
      throw ValidationError("--disk-size (a scratch disk) and --disk-image (a read-only disk image) exclude each other")
    }
  }

  func run() throws {
    let imagePath = imageArgument(image)
    let disk = diskSize.map { DiskBody(size: $0) } ?? diskImage.map { DiskBody(image: imageArgument($0)) }
    let client = options.client
    var created: [VMInfo] = []
    var stopped: ErrorBody?
    let progress = ProgressBar(total: count, noun: "VMs", enabled: count > batch)
    let start = ContinuousClock.now
    try options.run { () throws(ControlClientError) in
      defer { progress.finish() }
      while created.count < count, stopped == nil {
        let size = min(batch, count - created.count)
        let body = CreateVMsBody(
          image: imagePath, count: size, name: name, firstIndex: name != nil && count > 1 ? created.count + 1 : nil,
          memory: memory, disk: disk,
          arguments: Denalid.guestArguments.isEmpty ? nil : Denalid.guestArguments,
          network: network || address != nil ? NetworkBody(address: address) : nil)
        do throws(ControlClientError) {
          let response = try client.createVMs(body)
          created += response.vms
          stopped = response.stopped
        } catch {
          if created.isEmpty { throw error }
          stopped = ErrorBody(code: "client", message: "\(error)")
        }
        progress.update(created.count)
      }
    }
    let seconds =
      Double((ContinuousClock.now - start).components.seconds)
      + Double((ContinuousClock.now - start).components.attoseconds) / 1e18
    if options.json {
      printJSON(CreateVMsResponse(vms: created, stopped: stopped))
    } else if created.count <= 20 {
      let addresses = created.contains { $0.address != nil }
      var table = TextTable(header: ["ID", "NAME", "STATE", "MEMORY"] + (addresses ? ["ADDRESS"] : []))
      for vm in created {
        table.rows.append(
          [String(vm.id), vm.name ?? "-", vm.state.kind.rawValue, ByteCount.human(vm.memoryBytes)]
            + (addresses ? [vm.address ?? "-"] : []))
      }
      StandardStream.write(table.rendered, to: 1)
    } else {
      let ids = created.map(\.id)
      printOutput(
        "spawned \(created.count) VMs (ids \(ids.min() ?? 0)-\(ids.max() ?? 0)) in \(String(format: "%.2f", seconds))s: \(Int(Double(created.count) / max(seconds, 1e-9))) VMs/s"
      )
    }
    if let stopped {
      printError("denalid: created \(created.count) of \(count) VMs, then: \(stopped.message)")
      throw ExitCode(ClientExit.refused)
    }
  }
}

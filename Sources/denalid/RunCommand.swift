// RunCommand.swift: `denalid run`: one guest in one VM, console to stdout, the guest's status as ours.
import ArgumentParser
import DenaliCore
import KVM

/// `denalid run IMAGE [--memory SIZE] [--timeout DURATION] [-- ARGS...]`.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run one guest image in its own VM and exit with its status.",
    discussion: """
      Exit status: the guest's own (0-255); 2 invalid image or usage; 124 timeout; 125 host error;
      128+vector CPU exception (128 #DE, 134 #UD, 141 #GP, 142 #PF); 160 triple fault; 161 halt;
      162 emulation failure; 163 access outside guest memory; 164 port I/O that is not a hypercall;
      165 bad hypercall struct; 166 any other exit. See Docs/ABI.md.
      """
  )

  @Argument(help: "The guest image: a static x86-64 ELF executable.")
  var image: String

  @Option(help: "Guest memory size, a multiple of 2MiB (e.g. 4MiB, 64MiB).")
  var memory: ByteSizeArgument = ByteSizeArgument(ByteSize(bytes: VMConfiguration.defaultMemorySize))

  @Option(help: "Stop the guest after this long (e.g. 10s, 500ms); exit status 124.")
  var timeout: DurationArgument?

  @Option(help: "Virtual disk file (created with --disk-size when missing).")
  var disk: String?

  @Option(help: "Disk size, a multiple of 4KiB: creates --disk if missing, or a scratch disk without --disk.")
  var diskSize: ByteSizeArgument?

  @Flag(help: "Attach --disk read-only (several VMs may share it).")
  var diskReadonly = false

  @Argument(parsing: .postTerminator, help: "Arguments passed to the guest (after --).")
  var guestArguments: [String] = []

  func validate() throws {
    if diskReadonly && disk == nil { throw ValidationError("--disk-readonly needs --disk FILE") }
  }

  func run() throws {
    var configuration = VMConfiguration(
      memorySize: memory.size.bytes, arguments: guestArguments, timeout: timeout?.duration)
    do {
      configuration.disk = try openDisk()
    } catch {
      printError("denalid: disk: \(error)")
      throw ExitCode(ExitStatus.usage)
    }
    let status = Self.execute(imagePath: image, configuration: configuration)
    throw ExitCode(status)
  }

  /// The disk the flags ask for: a file, a created file, a scratch disk, or none.
  private func openDisk() throws(DiskFileError) -> DiskFile? {
    if let disk { return try DiskFile(path: disk, readOnly: diskReadonly, createSize: diskSize?.size.bytes) }
    if let diskSize { return try DiskFile.scratch(size: diskSize.size.bytes) }
    return nil
  }

  /// Runs the guest and returns the exit status `denalid run` reports, printing any reason on stderr.
  static func execute(imagePath: String, configuration: VMConfiguration) -> Int32 {
    do {
      try configuration.validate()
    } catch {
      printError("denalid: \(error)")
      return ExitStatus.usage
    }
    let image: GuestImage
    do {
      image = try GuestImage(contentsOf: imagePath, memorySize: configuration.memorySize)
    } catch {
      printError("denalid: \(imagePath): not a valid guest image: \(error)")
      return ExitStatus.usage
    }
    do {
      let system = try KVMSystem()
      let vm = try GuestVM(system: system, image: image, configuration: configuration) { bytes in
        StandardStream.write(bytes, to: 1)
      }
      switch try vm.run() {
      case .exited(let status):
        return status
      case .faulted(let fault):
        printError("denalid: guest fault: \(fault)")
        return fault.exitStatus
      case .timedOut:
        printError("denalid: guest stopped: it ran past its timeout of \(configuration.timeout.map { "\($0)" } ?? "?")")
        return ExitStatus.timeout
      }
    } catch let error as VMSetupError {
      printError("denalid: \(error)")
      return error.isUsageError ? ExitStatus.usage : ExitStatus.hostError
    } catch {
      printError("denalid: host error: \(error)")
      return ExitStatus.hostError
    }
  }
}

/// A `--memory` value.
struct ByteSizeArgument: ExpressibleByArgument {
  /// The parsed size.
  let size: ByteSize

  init(_ size: ByteSize) { self.size = size }

  init?(argument: String) {
    guard let size = ByteSize(parsing: argument) else { return nil }
    self.size = size
  }

  var defaultValueDescription: String { size.description }
}

/// A `--timeout` value.
struct DurationArgument: ExpressibleByArgument {
  /// The parsed duration.
  let duration: Duration

  init?(argument: String) {
    guard let duration = DurationParser.parse(argument) else { return nil }
    self.duration = duration
  }
}

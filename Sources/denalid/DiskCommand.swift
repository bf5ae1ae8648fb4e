// DiskCommand.swift: `denalid disk`: tools for virtual disk files.
import ArgumentParser

/// `denalid disk SUBCOMMAND`.
struct DiskCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "disk", abstract: "Make virtual disk files.", subcommands: [DiskPackCommand.self])
}

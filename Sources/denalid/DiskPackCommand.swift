// DiskPackCommand.swift: `denalid disk pack SITE_DIR -o IMAGE`: a site directory into a read-only site image.
import ArgumentParser
import DenaliCommandLine
import DenaliCore

/// `denalid disk pack SITE_DIR -o IMAGE`.
struct DiskPackCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pack",
    abstract: "Pack a directory of files into a site image, a read-only disk for guests (Docs/GUESTS.md).",
    discussion: """
      Every regular file below SITE_DIR becomes the path /NAME/... in the image (symbolic links are followed
      when they stay inside SITE_DIR). Refused, with exit status 2: links that leave SITE_DIR or lead nowhere,
      FIFOs, sockets and devices, names with control bytes or backslashes or that are not UTF-8, paths over
      216 bytes, more than 65,536 files, files over 1 GiB, images over 4 GiB, and an output inside SITE_DIR.
      The same contents always give the same image. Attach it with `run --disk IMAGE --disk-readonly`.
      Exit status: 0 packed; 1 the host failed (for example a full disk); 2 input refused or usage.
      """
  )

  @Argument(help: "The directory of files to pack.")
  var siteDirectory: String

  @Option(name: .shortAndLong, help: "The image file to write (replaced if it exists).")
  var output: String

  func run() throws {
    let summary: SitePackSummary
    do {
      summary = try SiteImagePacker.pack(directory: siteDirectory, output: output)
    } catch {
      printError("denalid disk pack: \(error)")
      throw ExitCode(error.isRefusal ? ExitStatus.usage : 1)
    }
    StandardStream.write(
      "\(output): \(summary.files) files, \(summary.contentBytes) bytes, \(summary.blocks) blocks of 4096\n", to: 1)
  }
}

// UnpackedPackage.swift: the Debian package under test (`make deb` of the debug build; make test makes it first and
// passes it as $DENALI_DEB), unpacked once into a scratch root, and what the package ought to hold.
import Foundation
import Glibc
import Testing

/// The package, its listing and its files unpacked under `root` (and its control files under `control`).
final class UnpackedPackage: Sendable {
  /// The .deb file.
  let path: String
  /// A scratch directory holding `root/` (the files) and `control/` (DEBIAN).
  let scratch: String
  /// The files, as dpkg would install them under /.
  var root: String { scratch + "/root" }
  /// The control files (control, conffiles, md5sums, maintainer scripts).
  var control: String { scratch + "/control" }

  /// The package of this test run, unpacked on first use and removed when the tests end; nil (with an issue
  /// recorded) when it was not built.
  static func shared(sourceLocation: SourceLocation = #_sourceLocation) -> UnpackedPackage? {
    switch unpacked {
    case .success(let package): return package
    case .failure(let error):
      Issue.record("the Debian package is not there to test: \(error)", sourceLocation: sourceLocation)
      return nil
    }
  }

  private static let unpacked: Result<UnpackedPackage, PackageError> = {
    let result = Result { () throws(PackageError) in try UnpackedPackage(path: debPath) }
    // The scratch root goes when the test process exits (the static is set by then).
    atexit {
      if case .success(let package) = UnpackedPackage.unpacked {
        try? FileManager.default.removeItem(atPath: package.scratch)
      }
    }
    return result
  }()

  /// $DENALI_DEB, else the debug build's package in .build/debug-deb.
  static var debPath: String {
    if let path = ProcessInfo.processInfo.environment["DENALI_DEB"] { return path }
    let directory = ProcessRunner.root.appendingPathComponent(".build/debug-deb").path
    let name = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.first { $0.hasSuffix(".deb") }
    return directory + "/" + (name ?? "denali_VERSION_ARCH.deb")
  }

  private init(path: String) throws(PackageError) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw .missing("\(path) is missing: make test builds it (make deb CONFIGURATION=debug NO_BUILD=1)")
    }
    self.path = path
    var template = Array("/tmp/denali-deb-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw .failed("mkdtemp: \(String(cString: strerror(errno)))") }
    scratch = String(cString: made)
    for (option, target) in [("-x", root), ("-e", control)] {
      let result: ProcessResult
      do {
        result = try ProcessRunner.run("/usr/bin/dpkg-deb", [option, path, target], limit: .seconds(120))
      } catch {
        throw .failed("dpkg-deb \(option): \(error)")
      }
      guard result.status == 0 else { throw .failed("dpkg-deb \(option) \(path): \(result.stderr)") }
    }
  }

  /// Every entry of the package's file archive: path (without the leading "."), mode string and owner.
  func listing() throws -> [(path: String, mode: String, owner: String)] {
    let result = try ProcessRunner.run("/usr/bin/dpkg-deb", ["--contents", path], limit: .seconds(120))
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
      guard fields.count == 6 else { return nil }
      var path = String(fields[5])
      if path.hasPrefix(".") { path.removeFirst() }
      if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
      return (path, String(fields[0]), String(fields[1]))
    }
  }

  /// The files the package must hold (paths under /), each with its mode: derived from the sources (guest folders,
  /// documents) and from denalid's own command tree (one man page per command).
  static func expectedFiles(denalid: String) throws -> [String: String] {
    let sources = ProcessRunner.root.path
    var files: [String: String] = [
      "/usr/bin/denalid": "-rwxr-xr-x",
      "/etc/denali/denalid.conf": "-rw-r--r--",
      "/lib/systemd/system/denalid.service": "-rw-r--r--",
      "/usr/lib/sysusers.d/denali.conf": "-rw-r--r--",
      "/usr/share/bash-completion/completions/denalid": "-rw-r--r--",
      "/usr/share/zsh/vendor-completions/_denalid": "-rw-r--r--",
      "/usr/share/fish/vendor_completions.d/denalid.fish": "-rw-r--r--",
      "/usr/share/doc/denali/README.md": "-rw-r--r--",
      "/usr/share/doc/denali/openapi.yaml": "-rw-r--r--",
      "/usr/share/doc/denali/copyright": "-rw-r--r--",
      "/usr/share/doc/denali/changelog.gz": "-rw-r--r--",
      "/usr/share/lintian/overrides/denali": "-rw-r--r--",
    ]
    for document in try FileManager.default.contentsOfDirectory(atPath: sources + "/Docs")
    where document.hasSuffix(".md") {
      files["/usr/share/doc/denali/" + document] = "-rw-r--r--"
    }
    for guest in try FileManager.default.contentsOfDirectory(atPath: sources + "/Guests")
    where FileManager.default.fileExists(atPath: "\(sources)/Guests/\(guest)/main.swift") {
      files["/usr/share/denali/guests/\(guest).elf"] = "-rw-r--r--"
    }
    for page in try commandPages(denalid: denalid) {
      files["/usr/share/man/man1/\(page).1.gz"] = "-rw-r--r--"
    }
    return files
  }

  /// One man page name per command of denalid ("denalid", "denalid-spawn", "denalid-bench-boot", ...), from the
  /// description the argument parser gives of itself (what the man page generator reads too).
  static func commandPages(denalid: String) throws -> [String] {
    let result = try ProcessRunner.run(denalid, ["--experimental-dump-help"])
    let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    guard let command = json?["command"] as? [String: Any] else { return [] }
    func pages(_ command: [String: Any], prefix: String) -> [String] {
      let name = prefix + (command["commandName"] as? String ?? "?")
      let subcommands = command["subcommands"] as? [[String: Any]] ?? []
      return [name] + subcommands.flatMap { pages($0, prefix: name + "-") }
    }
    return pages(command, prefix: "")
  }
}

/// Why the package cannot be tested.
enum PackageError: Error, CustomStringConvertible {
  /// It was not built.
  case missing(String)
  /// Unpacking it failed.
  case failed(String)

  var description: String {
    switch self {
    case .missing(let message), .failed(let message): message
    }
  }
}

// MakeInstallTests.swift: `make install DESTDIR=... [PREFIX=...]` puts everything in place with the unit's paths
// rewritten, keeps an existing configuration, and `make uninstall` removes exactly what it added.
import Foundation
import Glibc
import Testing

@Suite("make install and make uninstall")
struct MakeInstallTests {
  /// A fresh scratch directory, removed at the end of the test.
  final class Scratch {
    let path: String
    init() throws {
      var template = Array("/tmp/denali-install-XXXXXX".utf8CString)
      guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
      path = String(cString: made)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
  }

  /// Runs `make TARGET VARIABLES...` in the package root on what make test built (debug, NO_BUILD: these tests run
  /// inside `swift test`, which holds the build directory).
  func make(_ target: String, _ variables: [String]) throws -> ProcessResult {
    let arguments = [
      "-s", "--no-print-directory", "-C", ProcessRunner.root.path, target, "CONFIGURATION=debug", "NO_BUILD=1",
    ]
    // The outer make's jobserver and flags do not reach this one.
    return try ProcessRunner.run(
      "/usr/bin/make", arguments + variables, environment: ["MAKEFLAGS": "", "MFLAGS": "", "MAKELEVEL": ""],
      limit: .seconds(120))
  }

  /// Every path under `directory`, relative to it, sorted.
  func tree(_ directory: String) -> [String] {
    (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []).sorted()
  }

  func mode(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
  }

  @Test("make install DESTDIR=... then make uninstall leaves the directory empty")
  func installThenUninstall() throws {
    guard let denalid = ProcessRunner.denalid() else { return }
    let scratch = try Scratch()
    let destination = scratch.path
    let install = try make("install", ["DESTDIR=" + destination])
    #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
    let usr = destination + "/usr/local"
    #expect(mode(usr + "/bin/denalid") == 0o755)
    for file in [
      "/etc/denali/denalid.conf", "/usr/local/lib/systemd/system/denalid.service",
      "/usr/local/lib/sysusers.d/denali.conf",
      "/usr/local/share/denali/guests/hello.elf", "/usr/local/share/doc/denali/API.md",
      "/usr/local/share/man/man1/denalid.1", "/usr/local/share/man/man1/denalid-spawn.1",
      "/usr/local/share/bash-completion/completions/denalid", "/usr/local/share/zsh/site-functions/_denalid",
      "/usr/local/share/fish/vendor_completions.d/denalid.fish",
    ] {
      #expect(mode(destination + file) == 0o644, "\(file)")
    }
    #expect(FileManager.default.fileExists(atPath: destination + "/var/lib/denali/images"))
    // One man page per command.
    for page in try UnpackedPackage.commandPages(denalid: denalid) {
      #expect(FileManager.default.fileExists(atPath: "\(usr)/share/man/man1/\(page).1"), "\(page).1")
    }
    let unit = try String(contentsOfFile: usr + "/lib/systemd/system/denalid.service", encoding: .utf8)
    #expect(unit.contains("\nExecStart=/usr/local/bin/denalid serve --config /etc/denali/denalid.conf\n"))
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: destination + "/etc/denali/denalid.conf"))
        == Data(contentsOf: ProcessRunner.root.appendingPathComponent("Config/denalid.conf")))
    // The installed daemon is the one built.
    let version = try ProcessRunner.run(usr + "/bin/denalid", ["--version"])
    #expect(version.stdout.hasPrefix("denalid \(DebianPackageTests.packageVersion) (commit "), "\(version.stdout)")

    let uninstall = try make("uninstall", ["DESTDIR=" + destination])
    #expect(uninstall.status == 0, "\(uninstall.stdout)\(uninstall.stderr)")
    #expect(tree(destination) == [], "left behind: \(tree(destination))")
  }

  @Test("Another PREFIX moves everything and the unit follows; an existing configuration and foreign files stay")
  func prefixAndExistingFiles() throws {
    let scratch = try Scratch()
    let destination = scratch.path
    // Before: an operator's configuration, and a man page of another package in a directory install also uses.
    let manual = destination + "/opt/denali/share/man/man1"
    try FileManager.default.createDirectory(atPath: manual, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: destination + "/etc/denali", withIntermediateDirectories: true)
    try "other\n".write(toFile: manual + "/other.1", atomically: true, encoding: .utf8)
    try "max-vms = 7\n".write(toFile: destination + "/etc/denali/denalid.conf", atomically: true, encoding: .utf8)
    let before = tree(destination)

    let variables = ["DESTDIR=" + destination, "PREFIX=/opt/denali"]
    let install = try make("install", variables)
    #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
    #expect(install.stdout.contains("kept the existing"), "\(install.stdout)")
    #expect(try String(contentsOfFile: destination + "/etc/denali/denalid.conf", encoding: .utf8) == "max-vms = 7\n")
    #expect(mode(destination + "/opt/denali/bin/denalid") == 0o755)
    #expect(FileManager.default.fileExists(atPath: manual + "/denalid-spawn.1"))
    let unit = try String(
      contentsOfFile: destination + "/opt/denali/lib/systemd/system/denalid.service", encoding: .utf8)
    #expect(unit.contains("\nExecStart=/opt/denali/bin/denalid serve --config /etc/denali/denalid.conf\n"))
    #expect(unit.contains(" file:///opt/denali/share/doc/denali/API.md\n"))
    #expect(FileManager.default.fileExists(atPath: destination + "/opt/denali/share/doc/denali/API.md"))
    // Installing twice is fine, and uninstall still knows everything it installed.
    let again = try make("install", variables)
    #expect(again.status == 0, "\(again.stderr)")

    let uninstall = try make("uninstall", variables)
    #expect(uninstall.status == 0, "\(uninstall.stdout)\(uninstall.stderr)")
    #expect(tree(destination) == before, "left behind: \(Set(tree(destination)).subtracting(before).sorted())")
    // Nothing there to uninstall any more: a clear refusal.
    let nothing = try make("uninstall", variables)
    #expect(nothing.status != 0)
    #expect(nothing.stderr.contains("nothing was installed there"), "\(nothing.stderr)")
  }

  @Test("make uninstall keeps a configuration changed after install")
  func changedConfigurationStays() throws {
    let scratch = try Scratch()
    let destination = scratch.path
    #expect(try make("install", ["DESTDIR=" + destination]).status == 0)
    let configuration = destination + "/etc/denali/denalid.conf"
    try "max-vms = 9\n".write(toFile: configuration, atomically: true, encoding: .utf8)
    let uninstall = try make("uninstall", ["DESTDIR=" + destination])
    #expect(uninstall.status == 0, "\(uninstall.stderr)")
    #expect(uninstall.stdout.contains("it was changed after make install"), "\(uninstall.stdout)")
    #expect(tree(destination) == ["etc", "etc/denali", "etc/denali/denalid.conf"])
  }
}

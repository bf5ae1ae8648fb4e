// DebianPackageTests.swift: the Debian package (`make deb`): lintian, every file and mode, the control files, and
// the unpacked files at work: the unit verified, man pages rendered, bash completion, the group, denalid running a
// guest image of the package.
import Foundation
import Testing

@Suite("Debian package")
struct DebianPackageTests {
  /// The version the build says it is (Sources/CBuildInfo).
  static var packageVersion: String {
    let header = ProcessRunner.root.appendingPathComponent("Sources/CBuildInfo/include/build_info.h").path
    let text = (try? String(contentsOfFile: header, encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("#define DENALI_PACKAGE_VERSION ") } ?? ""
    return line.split(separator: "\"").dropFirst().first.map(String.init) ?? "?"
  }

  /// `tool`'s path, or nil: an issue in CI (setup installs every tool), a note elsewhere.
  static func tool(_ name: String, package: String) -> String? {
    if let path = ProcessRunner.which(name) { return path }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
      Issue.record("\(name) is missing (Debian package \(package); scripts/setup.sh installs it)")
    } else {
      print("skipping: \(name) is missing (apt-get install \(package))")
    }
    return nil
  }

  @Test("lintian: no errors and no warnings (those left are overridden, with a reason, in the package)")
  func lintian() throws {
    guard let lintian = Self.tool("lintian", package: "lintian"), let package = UnpackedPackage.shared() else { return }
    let result = try ProcessRunner.run(lintian, ["--fail-on", "error,warning", package.path], limit: .seconds(600))
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    let tags = result.stdout.split(separator: "\n").filter { $0.hasPrefix("E: ") || $0.hasPrefix("W: ") }
    #expect(tags.isEmpty, "\(tags.joined(separator: "\n"))")
  }

  @Test("Every file and directory, with its mode, owned by root; nothing else")
  func contents() throws {
    guard let package = UnpackedPackage.shared(), let denalid = ProcessRunner.denalid() else { return }
    let expected = try UnpackedPackage.expectedFiles(denalid: denalid)
    #expect(expected.count > 40)
    #expect(expected["/usr/share/man/man1/denalid-spawn.1.gz"] != nil)
    let listing = try package.listing()
    var directories = Set(["/", "/var/lib/denali/images"])
    for path in Array(expected.keys) + ["/var/lib/denali/images"] {
      var parent = (path as NSString).deletingLastPathComponent
      while parent != "/" {
        directories.insert(parent)
        parent = (parent as NSString).deletingLastPathComponent
      }
    }
    var seen: [String: String] = [:]
    for entry in listing {
      #expect(entry.owner == "root/root", "\(entry.path) is owned by \(entry.owner)")
      if entry.mode.hasPrefix("d") {
        #expect(directories.contains(entry.path), "unexpected directory \(entry.path)")
        #expect(entry.mode == "drwxr-xr-x", "\(entry.path): \(entry.mode)")
      } else {
        seen[entry.path] = entry.mode
      }
    }
    #expect(Set(listing.filter { $0.mode.hasPrefix("d") }.map(\.path)) == directories)
    for (path, mode) in expected.sorted(by: { $0.key < $1.key }) {
      #expect(seen[path] == mode, "\(path): \(seen[path] ?? "missing"), expected \(mode)")
    }
    for path in seen.keys.sorted() where expected[path] == nil {
      Issue.record("unexpected file in the package: \(path)")
    }
  }

  @Test("Control files: fields, conffile, maintainer scripts (mode, syntax, conventions), checksums")
  func controlFiles() throws {
    guard let package = UnpackedPackage.shared() else { return }
    let control = try String(contentsOfFile: package.control + "/control", encoding: .utf8)
    #expect(control.hasPrefix("Package: denali\nVersion: \(Self.packageVersion)\n"))
    #expect(control.contains("\nDepends: libc6 (>= "))
    #expect(control.contains(", systemd | systemd-standalone-sysusers | systemd-sysusers\n"))
    #expect(
      control.range(of: "@[A-Z_]+@", options: .regularExpression) == nil, "an unsubstituted @FIELD@ in:\n\(control)")
    let conffiles = try String(contentsOfFile: package.control + "/conffiles", encoding: .utf8)
    #expect(conffiles == "/etc/denali/denalid.conf\n")
    for script in ["postinst", "prerm", "postrm"] {
      let path = package.control + "/" + script
      let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
      #expect(mode == 0o755, "\(script): mode \(String(mode ?? 0, radix: 8))")
      let syntax = try ProcessRunner.run("/bin/sh", ["-n", path])
      #expect(syntax.status == 0, "\(script): \(syntax.stderr)")
    }
    let postinst = try String(contentsOfFile: package.control + "/postinst", encoding: .utf8)
    for step in [
      "systemd-sysusers ${DPKG_ROOT:+--root=\"$DPKG_ROOT\"} denali.conf",
      "deb-systemd-helper enable 'denalid.service'", "systemctl --system daemon-reload",
      "deb-systemd-invoke $_dh_action 'denalid.service'",
    ] {
      #expect(postinst.contains(step), "postinst lacks: \(step)")
    }
    #expect(
      try String(contentsOfFile: package.control + "/postrm", encoding: .utf8)
        .contains("deb-systemd-helper purge 'denalid.service'"))
    #expect(
      try String(contentsOfFile: package.control + "/prerm", encoding: .utf8)
        .contains("deb-systemd-invoke stop 'denalid.service'"))
    // md5sums covers every file but the conffile, and every sum is right.
    let sums = try ProcessRunner.run(
      "/bin/sh", ["-c", "cd '\(package.root)' && md5sum --check --quiet '\(package.control)/md5sums'"])
    #expect(sums.status == 0, "\(sums.stdout)\(sums.stderr)")
    let listed = try String(contentsOfFile: package.control + "/md5sums", encoding: .utf8).split(separator: "\n")
    #expect(listed.contains { $0.hasSuffix("  usr/bin/denalid") })
    #expect(!listed.contains { $0.hasSuffix("etc/denali/denalid.conf") })
  }

  @Test("The installed unit passes systemd-analyze verify (its binary and man pages those of the package)")
  func unit() throws {
    guard let analyze = Self.tool("systemd-analyze", package: "systemd"), let package = UnpackedPackage.shared() else {
      return
    }
    let unit = try String(contentsOfFile: package.root + "/lib/systemd/system/denalid.service", encoding: .utf8)
    #expect(unit.contains("\nExecStart=/usr/bin/denalid serve --config /etc/denali/denalid.conf\n"))
    #expect(unit.contains("\nDocumentation=man:denalid-serve(1) man:denalid(1) file:///usr/share/doc/denali/API.md\n"))
    #expect(FileManager.default.fileExists(atPath: package.root + "/usr/share/doc/denali/API.md"))
    // verify checks that ExecStart's binary exists and runs `man` for each man: page: point both into the package.
    let directory = package.scratch + "/verify"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try unit.replacingOccurrences(of: "/usr/bin/denalid", with: package.root + "/usr/bin/denalid")
      .write(toFile: directory + "/denalid.service", atomically: true, encoding: .utf8)
    let result = try ProcessRunner.run(
      analyze, ["verify", directory + "/denalid.service"], environment: ["MANPATH": package.root + "/usr/share/man"])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(result.stderr.isEmpty, "\(result.stderr)")
  }

  @Test("man -l renders denalid.1 and denalid-spawn.1 without warnings", arguments: ["denalid", "denalid-spawn"])
  func manPage(page: String) throws {
    guard let man = Self.tool("man", package: "man-db"), let package = UnpackedPackage.shared() else { return }
    let file = "\(package.root)/usr/share/man/man1/\(page).1.gz"
    let result = try ProcessRunner.run(
      man, ["--warnings", "-l", file], environment: ["MANWIDTH": "100", "LC_ALL": "C.UTF-8"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.isEmpty, "\(result.stderr)")
    #expect(result.stdout.contains("NAME"))
    #expect(result.stdout.contains("SYNOPSIS"))
    #expect(result.stdout.contains(page.uppercased() + "(1)"))
    if page == "denalid-spawn" {
      let name = result.stdout.split(separator: "\n").first { $0.contains("Create VMs in the running daemon.") } ?? ""
      #expect(name.trimmingCharacters(in: .whitespaces).hasPrefix("denalid-spawn "), "NAME: \(name)")
      #expect(result.stdout.contains("denalid spawn [--socket socket]"), "\(result.stdout)")
      #expect(result.stdout.contains("--count count"))
    } else {
      #expect(result.stdout.contains("denalid-spawn(1)"), "SEE ALSO should name the subcommands' pages")
    }
  }

  @Test("The bash completion loads and completes subcommands and options")
  func bashCompletion() throws {
    guard let package = UnpackedPackage.shared() else { return }
    let script = package.root + "/usr/share/bash-completion/completions/denalid"
    // complete WORD...: what the function `complete -p denalid` names offers for the last word.
    let probe = """
      source '\(script)' || exit 1
      function=$(complete -p denalid | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
      [ -n "$function" ] || { echo "no completion function" >&2; exit 1; }
      complete_words() {
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        "$function" denalid "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        echo "$*: ${COMPREPLY[*]}"
      }
      complete_words denalid sp
      complete_words denalid spawn --co
      complete_words denalid ''
      """
    let result = try ProcessRunner.run("/bin/bash", ["--norc", "-c", probe])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(lines.contains("denalid sp: spawn"), "\(result.stdout)")
    #expect(lines.contains("denalid spawn --co: --count"), "\(result.stdout)")
    let all = lines.first { $0.hasPrefix("denalid : ") } ?? ""
    for subcommand in ["run", "serve", "spawn", "list", "inspect", "logs", "kill", "stats"] {
      #expect(all.split(separator: " ").contains(Substring(subcommand)), "\(all)")
    }
  }

  @Test("The sysusers.d entry creates the denali user and group (and kvm when missing)")
  func sysusers() throws {
    guard let sysusers = Self.tool("systemd-sysusers", package: "systemd"), let package = UnpackedPackage.shared()
    else {
      return
    }
    let system = package.scratch + "/sysusers-root"
    try FileManager.default.createDirectory(atPath: system + "/etc", withIntermediateDirectories: true)
    let result = try ProcessRunner.run(
      sysusers, ["--root=" + system, package.root + "/usr/lib/sysusers.d/denali.conf"])
    #expect(result.status == 0, "\(result.stderr)")
    let groups = try String(contentsOfFile: system + "/etc/group", encoding: .utf8).split(separator: "\n")
    #expect(groups.contains { $0.hasPrefix("denali:x:") }, "\(groups)")
    #expect(groups.contains { $0.hasPrefix("kvm:x:") }, "\(groups)")
    // The daemon's user: its own group, the state directory as home, no login shell.
    let users = try String(contentsOfFile: system + "/etc/passwd", encoding: .utf8).split(separator: "\n")
    let denali = users.first { $0.hasPrefix("denali:x:") }.map {
      $0.split(separator: ":", omittingEmptySubsequences: false)
    }
    #expect(denali?.count == 7 && denali?[2] == denali?[3], "\(users)")
    #expect(denali?[5] == "/var/lib/denali" && denali?[6] == "/usr/sbin/nologin", "\(users)")
  }

  @Test("The packaged denalid is self-contained, says its version, and runs the packaged hello.elf")
  func installedDenalidRunsHello() throws {
    guard let package = UnpackedPackage.shared() else { return }
    let denalid = package.root + "/usr/bin/denalid"
    let version = try ProcessRunner.run(denalid, ["--version"])
    #expect(version.status == 0)
    #expect(version.stdout.hasPrefix("denalid \(Self.packageVersion) (commit "), "\(version.stdout)")
    // The Swift runtime is inside: nothing is loaded from the toolchain.
    let libraries = try ProcessRunner.run("/usr/bin/ldd", [denalid])
    #expect(libraries.status == 0)
    #expect(!libraries.stdout.contains("swift") && !libraries.stdout.contains("Foundation"), "\(libraries.stdout)")
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("/dev/kvm is missing, and CI requires it") }
      return
    }
    let hello = package.root + "/usr/share/denali/guests/hello.elf"
    let result = try ProcessRunner.run(denalid, ["run", hello, "--", "from", "the", "package"], limit: .seconds(120))
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "hello from denali from the package\n", "\(result.stdout)")
  }
}

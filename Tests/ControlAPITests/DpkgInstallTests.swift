// DpkgInstallTests.swift: the package installed, used, upgraded, removed and purged by dpkg for real, maintainer
// scripts and all, on a throw-away copy of this system: a private mount namespace whose /etc, /usr and /var are overlays
// (the changes land in a scratch directory; the machine itself is untouched). Needs root.
import Foundation
import Glibc
import Testing

@Suite("dpkg installs the package")
struct DpkgInstallTests {
  @Test(
    "install creates the group and enables the unit; the unit verifies; the first VM runs; a changed conffile survives; purge cleans up"
  )
  func lifecycle() throws {
    guard let package = UnpackedPackage.shared() else { return }
    guard geteuid() == 0, let unshare = ProcessRunner.which("unshare") else {
      print("skipping: installing the package with dpkg needs root and unshare (util-linux)")
      return
    }
    guard FileManager.default.fileExists(atPath: "/dev/kvm") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("/dev/kvm is missing, and CI requires it") }
      return
    }
    let upper = package.scratch + "/overlay"
    // Each step prints a marker line the test looks for; any failure stops the script.
    let script = """
      set -eu
      for d in etc usr var; do
        mkdir -p '\(upper)'/$d/upper '\(upper)'/$d/work
        mount -t overlay overlay -o lowerdir=/$d,upperdir='\(upper)'/$d/upper,workdir='\(upper)'/$d/work /$d \
          || { echo "overlay unavailable"; exit 0; }
      done
      dpkg -i '\(package.path)' >/dev/null
      echo "group: $(getent group denali | cut -d: -f1)"
      echo "enabled: $(readlink /etc/systemd/system/multi-user.target.wants/denalid.service)"
      echo "version: $(denalid --version)"
      systemd-analyze verify denalid.service && echo "verify: ok"
      # The first VM, as README.md tells an operator: the packaged daemon with the packaged configuration (its
      # socket in a private /run), an example guest copied into its image directory, a client of the same package.
      mount -t tmpfs tmpfs /run
      cp /usr/share/denali/guests/hello.elf /var/lib/denali/images/
      denalid serve --stop-with-parent >'\(upper)/serve.log' 2>&1 &
      daemon=$!
      trap 'kill $daemon 2>/dev/null || true' EXIT
      tries=0
      until [ -S /run/denali/denalid.sock ]; do
        tries=$((tries + 1)); [ $tries -lt 300 ] || { cat '\(upper)/serve.log'; exit 1; }; sleep 0.1
      done
      echo "socket: $(stat -c '%a %G' /run/denali/denalid.sock)"
      denalid spawn hello.elf --name first -- from the package >/dev/null
      tries=0
      until denalid inspect first --json | grep -q '"state":"exited"'; do
        tries=$((tries + 1)); [ $tries -lt 600 ] || { denalid inspect first; exit 1; }; sleep 0.1
      done
      echo "first VM: $(denalid logs first)"
      echo "health: $(curl --silent --unix-socket /run/denali/denalid.sock http://localhost/v1/health)"
      kill $daemon; wait $daemon || true
      echo "# changed by the operator" >>/etc/denali/denalid.conf
      dpkg -i '\(package.path)' >/dev/null
      echo "conffile after upgrade: $(tail -n 1 /etc/denali/denalid.conf)"
      dpkg -r denali >/dev/null
      echo "after remove: binary $(test -e /usr/bin/denalid && echo present || echo gone), conffile $(test -e /etc/denali/denalid.conf && echo present || echo gone)"
      dpkg --purge denali >/dev/null
      echo "after purge: conffile $(test -e /etc/denali/denalid.conf && echo present || echo gone), enabled $(test -L /etc/systemd/system/multi-user.target.wants/denalid.service && echo yes || echo no)"
      """
    let result = try ProcessRunner.run(unshare, ["--mount", "/bin/sh", "-c", script], limit: .seconds(300))
    if result.stdout.contains("overlay unavailable") {
      print("skipping: overlay mounts are not available here")
      return
    }
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    let lines = Set(result.stdout.split(separator: "\n").map(String.init))
    for line in [
      "group: denali", "enabled: /lib/systemd/system/denalid.service", "verify: ok", "socket: 660 denali",
      "first VM: hello from denali from the package",
      "conffile after upgrade: # changed by the operator", "after remove: binary gone, conffile present",
      "after purge: conffile gone, enabled no",
    ] {
      #expect(lines.contains(line), "missing \"\(line)\" in:\n\(result.stdout)\(result.stderr)")
    }
    #expect(lines.contains { $0.hasPrefix("version: denalid \(DebianPackageTests.packageVersion) (commit ") })
    let health = lines.first { $0.hasPrefix("health: ") } ?? ""
    #expect(
      health.contains(#""status":"ok""#) && health.contains(#""version":"\#(DebianPackageTests.packageVersion)""#),
      "\(health)")
  }
}

// RunCommandTests.swift: `denalid run` end to end: real guests in real KVM VMs, output and exit statuses.
import Foundation
import Testing

@Suite("denalid run")
struct RunCommandTests {
  @Test("hello prints its greeting and arguments and exits 0")
  func hello() throws {
    guard Denalid.ready() else { return }
    let result = try Denalid.run(["run", Denalid.guest("hello"), "--", "a", "b c", "--flag"])
    #expect(result.status == 0)
    #expect(result.stdout == "hello from denali a b c --flag\n")
    #expect(result.stderr == "")
  }

  @Test("the guest's exit status becomes denalid's", arguments: [0, 1, 7, 42, 255])
  func exitStatus(status: Int) throws {
    guard Denalid.ready(guests: ["exit-status"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("exit-status"), "--", "\(status)"])
    #expect(result.status == Int32(status))
  }

  @Test("exit-status without an argument reports usage and exits 2")
  func exitStatusWithoutArgument() throws {
    guard Denalid.ready(guests: ["exit-status"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("exit-status")])
    #expect(result.status == 2)
  }

  @Test("memory sizes: 2MiB and 64MiB run, a size that is not a 2 MiB multiple is refused with status 2")
  func memorySizes() throws {
    guard Denalid.ready() else { return }
    for size in ["2MiB", "64MiB"] {
      let result = try Denalid.run(["run", Denalid.guest("hello"), "--memory", size])
      #expect(result.status == 0, "--memory \(size)")
      #expect(result.stdout == "hello from denali\n")
    }
    for size in ["3MiB", "1MiB", "2GiB", "lots"] {
      let result = try Denalid.run(["run", Denalid.guest("hello"), "--memory", size])
      #expect(result.status == 2, "--memory \(size)")
      #expect(result.stdout == "")
      #expect(result.stderr.contains("memory") || result.stderr.contains("--memory"), "\(result.stderr)")
    }
  }

  @Test("a guest past --timeout is stopped with status 124 and a one-line message")
  func timeout() throws {
    guard Denalid.ready(guests: ["spin"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("spin"), "--timeout", "300ms"])
    #expect(result.status == 124)
    #expect(result.stdout == "spinning\n")
    #expect(result.stderr.contains("timeout"))
    #expect(result.stderr.split(separator: "\n").count == 1)
    #expect(result.elapsed >= .milliseconds(290))
    #expect(result.elapsed < .seconds(10))
  }

  @Test("a guest that finishes before its timeout keeps its own status")
  func timeoutNotReached() throws {
    guard Denalid.ready(guests: ["exit-status"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("exit-status"), "--timeout", "30s", "--", "3"])
    #expect(result.status == 3)
  }

  @Test("a bad --timeout is a usage error")
  func badTimeout() throws {
    guard Denalid.ready() else { return }
    for value in ["0s", "-1s", "soon"] {
      let result = try Denalid.run(["run", Denalid.guest("hello"), "--timeout", value])
      #expect(result.status == 2, "--timeout \(value)")
    }
  }

  @Test("arguments too long for the boot page are refused with status 2")
  func argumentsTooLong() throws {
    guard Denalid.ready() else { return }
    let result = try Denalid.run(["run", Denalid.guest("hello"), "--", String(repeating: "x", count: 5000)])
    #expect(result.status == 2)
    #expect(result.stderr.contains("arguments"))
  }
}

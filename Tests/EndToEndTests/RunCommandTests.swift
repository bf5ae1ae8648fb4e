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
    // 2 s: the timeout counts from the VM's submission, and on a loaded host its boot alone can take a few
    // hundred milliseconds (with 300 ms the guest was sometimes stopped before its first line).
    let result = try Denalid.run(["run", Denalid.guest("spin"), "--timeout", "2s"])
    #expect(result.status == 124)
    #expect(result.stdout == "spinning\n")
    #expect(result.stderr.contains("timeout"))
    #expect(result.stderr.split(separator: "\n").count == 1)
    #expect(result.elapsed >= .milliseconds(1990))
    #expect(result.elapsed < .seconds(20))
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

  @Test("--count runs many VMs: each console line prefixed by its VM id, a summary on stderr")
  func countPrefixesAndSummarises() throws {
    guard Denalid.ready() else { return }
    let result = try Denalid.run(["run", Denalid.guest("hello"), "--count", "5", "--", "x"])
    #expect(result.status == 0)
    let lines = result.stdout.split(separator: "\n").map(String.init).sorted()
    #expect(lines == (1...5).map { "[vm \($0)] hello from denali x" }.sorted())
    #expect(result.stderr.contains("denalid: 5 VMs: 5 exited 0"), "\(result.stderr)")
    #expect(result.stderr.contains("CPU time per VM: min"))
  }

  @Test("several images with IMAGE:COUNT; the exit status is the highest of the VMs'; --quiet drops consoles")
  func severalImages() throws {
    guard Denalid.ready(guests: ["hello", "exit-status"]) else { return }
    let result = try Denalid.run([
      "run", Denalid.guest("hello") + ":2", Denalid.guest("exit-status"), "--quiet", "--", "9",
    ])
    #expect(result.status == 9)
    #expect(result.stdout == "")
    #expect(result.stderr.contains("denalid: 3 VMs: 2 exited 0, 1 exited 9"), "\(result.stderr)")
  }

  @Test("a faulting VM among others is reported by id and stops only itself")
  func faultAmongOthers() throws {
    guard Denalid.ready(guests: ["hello", "fault"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("fault"), Denalid.guest("hello") + ":3", "--", "ud"])
    #expect(result.status == 134)
    #expect(result.stderr.contains("denalid: vm 1: guest fault: invalid opcode (#UD)"), "\(result.stderr)")
    #expect(result.stdout.components(separatedBy: "hello from denali ud").count - 1 == 3)
  }

  @Test("spinning guests on one worker are preempted and all time out together")
  func preemptedSpinners() throws {
    guard Denalid.ready(guests: ["spin"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("spin") + ":3", "--workers", "1", "--timeout", "1s", "--quiet"])
    #expect(result.status == 124)
    #expect(result.stderr.contains("3 VMs: 3 timed out"), "\(result.stderr)")
    #expect(result.elapsed < .seconds(5))
  }

  @Test("a guest writing 16 MiB without a newline beside another: lines of at most 4 KiB, nothing lost, no slowdown")
  func consoleWithoutNewlines() throws {
    guard Denalid.ready(guests: ["evil", "hello"]) else { return }
    // The multiplexer once kept the growing partial line in a dictionary under one lock and copied it on every
    // write: 16 MiB took 77 s (release build), and every other VM's write waited behind each copy.
    let result = try Denalid.run(
      ["run", Denalid.guest("evil"), Denalid.guest("hello"), "--", "console-no-newline", "16"], limit: .seconds(90))
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    let evilBytes = lines.filter { $0.hasPrefix("[vm 1] ") }.reduce(0) { $0 + $1.utf8.count - 7 }
    #expect(evilBytes == 16 << 20 + "evil: console-no-newline: ret 16777216".utf8.count, "every byte came out")
    #expect(lines.allSatisfy { $0.utf8.count <= 4096 + 7 }, "no line longer than 4 KiB and its prefix")
    #expect(lines.contains("[vm 2] hello from denali console-no-newline 16"), "the other VM's line is whole")
    #expect(result.elapsed < .seconds(40), "took \(result.elapsed)")
  }
}

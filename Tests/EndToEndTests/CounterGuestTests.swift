// CounterGuestTests.swift: the counter guest under `denalid run`: exact output with a limit, usage errors.
import Foundation
import Testing

@Suite("counter guest")
struct CounterGuestTests {
  @Test("limit=5 prints count 1 to 5 and done 5, and exits 0")
  func limit() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("counter"), "--", "interval-ms=10", "limit=5"])
    #expect(result.status == 0)
    #expect(result.stdout == "count 1\ncount 2\ncount 3\ncount 4\ncount 5\ndone 5\n")
    #expect(result.stderr == "")
    #expect(result.elapsed >= .milliseconds(50), "five 10 ms intervals")
  }

  @Test("quiet prints nothing and still stops at the limit")
  func quiet() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("counter"), "--", "interval-ms=1", "limit=3", "quiet"])
    #expect(result.status == 0)
    #expect(result.stdout == "")
  }

  @Test("counts until the timeout without a gap or a repeat, then status 124")
  func forever() throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("counter"), "--timeout", "500ms", "--", "interval-ms=50"])
    #expect(result.status == 124)
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(lines.count >= 3 && lines.count <= 10, "\(lines.count) counts of 50 ms in 500 ms")
    #expect(lines == (0..<lines.count).map { "count \($0 + 1)" })
  }

  @Test(
    "an unknown key or a bad value prints the usage and exits 2",
    arguments: [["bogus=1"], ["interval-ms=0"], ["interval-ms=ten"], ["limit="], ["quiet=1"], ["limit=5", "extra"]])
  func usage(arguments: [String]) throws {
    guard Denalid.ready(guests: ["counter"]) else { return }
    let result = try Denalid.run(["run", Denalid.guest("counter"), "--"] + arguments)
    #expect(result.status == 2)
    #expect(result.stdout.hasPrefix("usage: counter"))
  }
}

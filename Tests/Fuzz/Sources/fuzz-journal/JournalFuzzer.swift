// JournalFuzzer.swift: libFuzzer harness for the VM journal's replay: any bytes as `vms.journal` replay to a
// table of valid records (bad lines and records skipped with a reason), and every record kept encodes to a line
// that replays to the same record.
import DenaliCore
import Foundation
import FuzzSupport

@testable import DenaliCore

/// A few valid journals: creations, ends, a rewrite's full records with console, usage, address and network counters.
func seeds() -> [[UInt8]] {
  let record = VMRecord(
    id: 3, name: "web-1", imagePath: "/images/hello.elf", imageKey: "0123456789abcdef-4096", memorySize: 2 << 20,
    diskSize: 1 << 20, arguments: ["a", "b=c"], createdAt: 1_700_000_000.5)
  var full = record
  full.restarts = 2
  full.startedFrom = .swap
  full.console = Array("hello\n".utf8)
  full.usage.cpuNanoseconds = 12345
  full.address = IPv4Address(10, 0, 5, 5)
  var counters = NetworkCounters()
  counters.packetsIn = 3
  counters[.vmToVMDenied] = 2
  full.usage.network = counters
  var lines: [[UInt8]] = []
  do {
    lines.append(try VMJournalEntry.created(record).line())
    lines.append(try VMJournalEntry.ended(id: 3, end: .exited(status: 7), at: 1_700_000_001, usage: full.usage).line())
    lines.append(try VMJournalEntry.record(full).line())
    lines.append(try VMJournalEntry.ended(id: 3, end: .faulted(description: "#UD"), at: 1, usage: nil).line())
  } catch {
    fatalError("cannot encode seed lines: \(error)")
  }
  return [lines[0], lines[0] + lines[1], lines[2], lines[2] + lines[3], Array(lines.joined())]
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournal(_ input: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data = input else { return 0 }
  FuzzSupport.writeSeedsIfAsked(seeds)
  let replay = VMJournalReplay(Array(UnsafeBufferPointer(start: data, count: size)))
  for record in replay.table.values {
    guard record.problem == nil else { fatalError("replay kept an invalid record: \(record)") }
    guard let line = try? VMJournalEntry.record(record).line() else { fatalError("a kept record does not encode") }
    let again = VMJournalReplay(line)
    guard again.table[record.id] == record else { fatalError("a kept record does not round-trip: \(record)") }
  }
  return 0
}

/// The harness's entry point: libFuzzer's driver.
@main
enum FuzzJournalHarness {
  static func main() { FuzzSupport.run(fuzzJournal) }
}

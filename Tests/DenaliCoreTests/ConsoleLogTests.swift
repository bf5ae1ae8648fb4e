// ConsoleLogTests.swift: the daemon's per-VM console log: sanitising, the bounded ring, tails and followers.
import Synchronization
import Testing

@testable import DenaliCore

@Suite("ConsoleLog")
struct ConsoleLogTests {
  private func append(_ log: ConsoleLog, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { log.append($0) }
  }

  @Test("control bytes become ?, carriage returns go, newlines, tabs and UTF-8 stay")
  func sanitises() {
    let log = ConsoleLog(capacity: 1024)
    append(log, Array("a\u{1B}[31mred\r\n\tb\u{07}é\n".utf8))
    #expect(log.contents == Array("a?[31mred\n\tb?é\n".utf8))
  }

  @Test("keeps only the last `capacity` bytes, across many writes and one larger than the capacity")
  func ring() {
    let log = ConsoleLog(capacity: 10)
    for line in 0..<7 { append(log, Array("l\(line)\n".utf8)) }
    #expect(log.contents == Array("\nl4\nl5\nl6\n".utf8))
    append(log, Array("0123456789abcdef".utf8))
    #expect(log.contents == Array("6789abcdef".utf8))
    #expect(log.totalBytes == 7 * 3 + 16)
    let restored = ConsoleLog(capacity: 4, initial: Array("abcdef".utf8))
    #expect(restored.contents == Array("cdef".utf8))
  }

  @Test("tail counts lines from the end; a last line without a newline counts")
  func tail() {
    let log = ConsoleLog(capacity: 1024)
    append(log, Array("one\ntwo\nthree\n".utf8))
    #expect(log.tail(lines: 1) == Array("three\n".utf8))
    #expect(log.tail(lines: 2) == Array("two\nthree\n".utf8))
    #expect(log.tail(lines: 5) == Array("one\ntwo\nthree\n".utf8))
    #expect(log.tail(lines: 0) == Array("one\ntwo\nthree\n".utf8))
    append(log, Array("four".utf8))
    #expect(log.tail(lines: 1) == Array("four".utf8))
  }

  @Test("a follower gets the tail, every write in order, then .ended; a cancelled one gets nothing more")
  func followers() {
    let log = ConsoleLog(capacity: 1024)
    append(log, Array("old\nlast\n".utf8))
    let seen = Locked<[ConsoleLog.Event]>([])
    let cancelledSeen = Locked<[ConsoleLog.Event]>([])
    let subscription = log.subscribe(tailLines: 1) { event in seen.withLock { $0.append(event) } }
    let cancelled = log.subscribe(tailLines: 0) { event in cancelledSeen.withLock { $0.append(event) } }
    append(log, Array("new\n".utf8))
    cancelled.cancel()
    append(log, Array("more\r\n".utf8))
    log.close()
    append(log, Array("after\n".utf8))
    #expect(
      seen.withLock { $0 } == [
        .output(Array("last\n".utf8)), .output(Array("new\n".utf8)), .output(Array("more\n".utf8)), .ended,
      ])
    #expect(cancelledSeen.withLock { $0 } == [.output(Array("old\nlast\n".utf8)), .output(Array("new\n".utf8))])
    subscription.cancel()
    // Following a closed log: the tail, then .ended at once.
    let late = Locked<[ConsoleLog.Event]>([])
    _ = log.subscribe(tailLines: 1) { event in late.withLock { $0.append(event) } }
    #expect(late.withLock { $0 } == [.output(Array("more\n".utf8)), .ended])
  }
}

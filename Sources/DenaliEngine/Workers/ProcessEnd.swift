// ProcessEnd.swift: how a child process ended, from its wait status, in words for the log; and reaping one
// without blocking for long.
import Foundation
import Glibc

/// How a process ended.
public enum ProcessEnd: Equatable, Sendable, CustomStringConvertible {
  /// It exited with this status.
  case exited(Int32)
  /// A signal ended it.
  case killed(signal: Int32)

  /// The end a wait status (as `waitpid` fills it) records, nil for a stopped or continued process.
  public init?(waitStatus status: Int32) {
    let signal = status & 0x7f
    if signal == 0 {
      self = .exited((status >> 8) & 0xff)
    } else if signal != 0x7f, status & 0xffff != 0xffff {
      self = .killed(signal: signal)
    } else {
      return nil
    }
  }

  /// "exited with status N", or "killed by signal N (NAME)".
  public var description: String {
    switch self {
    case .exited(let status): "exited with status \(status)"
    case .killed(let signal):
      "killed by signal \(signal)\(strsignal(signal).map { " (\(String(cString: $0)))" } ?? "")"
    }
  }

  /// Reaps child `pid` if it has ended or ends within `patience`: its end; nil when it is not this process's
  /// child (or was reaped already) or is still running after that.
  public static func reap(_ pid: Int32, patience: Duration = .seconds(1)) -> ProcessEnd? {
    let deadline = ContinuousClock.now + patience
    while true {
      var status: Int32 = 0
      let result = waitpid(pid, &status, WNOHANG)
      if result == pid { return ProcessEnd(waitStatus: status) }
      if result < 0 && errno == EINTR { continue }
      guard result == 0, ContinuousClock.now < deadline else { return nil }
      Thread.sleep(forTimeInterval: 0.01)
    }
  }
}

// ProgressBar.swift: a one-line progress bar on standard error, for long bulk operations at a terminal.
import DenaliCommandLine
import Glibc

/// Redraws `[#####.....] done/total what  rate/s` on standard error; silent when standard error is not a terminal.
struct ProgressBar {
  /// Items to do.
  let total: Int
  /// What the items are ("VMs").
  let noun: String
  private let enabled: Bool
  private let start = ContinuousClock.now

  /// A bar for `total` items; drawn only when standard error is a terminal (and `enabled`).
  init(total: Int, noun: String, enabled: Bool = true) {
    self.total = total
    self.noun = noun
    self.enabled = enabled && isatty(2) == 1
  }

  /// Redraws the bar at `done` items.
  func update(_ done: Int) {
    guard enabled, total > 0 else { return }
    let width = 30
    let filled = min(width, done * width / total)
    let elapsed =
      Double((ContinuousClock.now - start).components.attoseconds) / 1e18
      + Double((ContinuousClock.now - start).components.seconds)
    let rate = elapsed > 0 ? Int(Double(done) / elapsed) : 0
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    StandardStream.write("\r[\(bar)] \(done)/\(total) \(noun)  \(rate)/s ", to: 2)
  }

  /// Ends the line the bar was drawn on.
  func finish() {
    guard enabled, total > 0 else { return }
    StandardStream.write("\n", to: 2)
  }
}

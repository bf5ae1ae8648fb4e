// JournalLogHandler.swift: swift-log lines on standard error, with syslog priority prefixes under journald.
import DenaliCommandLine
import Foundation
import Glibc
import Logging

/// Writes one line per log event to standard error. Under systemd (JOURNAL_STREAM set) each line starts with
/// `<N>`, the syslog priority, which journald turns into the entry's priority and strips; it adds the time
/// itself. Elsewhere lines carry a UTC timestamp and the level in words.
struct JournalLogHandler: LogHandler {
  /// Prefix lines with `<N>` (journald) instead of a timestamp.
  let journald: Bool
  /// The label of the logger, printed in brackets when it is not `denalid`.
  let label: String
  var logLevel: Logger.Level = .info
  var metadata: Logger.Metadata = [:]
  var metadataProvider: Logger.MetadataProvider?

  /// A handler for `label`; journald format when `environment` has JOURNAL_STREAM.
  init(label: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
    self.label = label
    journald = environment["JOURNAL_STREAM"] != nil
  }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    StandardStream.write(format(level: event.level, message: "\(event.message)", metadata: event.metadata), to: 2)
  }

  /// One line for an event.
  func format(level: Logger.Level, message: String, metadata extra: Logger.Metadata?, date: Date = Date()) -> String {
    var fields = metadata
    if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
    if let extra { fields.merge(extra) { $1 } }
    // One event is one line: newlines in the message would split a journal entry.
    var text = message.replacingOccurrences(of: "\n", with: "\\n")
    if label != "denalid" { text = "[\(label)] " + text }
    for key in fields.keys.sorted() {
      if let value = fields[key] { text += " \(key)=\(value)" }
    }
    if journald { return "<\(Self.priority(level))>\(text)\n" }
    return "\(Self.utcTimestamp(date)) \(level.rawValue): \(text)\n"
  }

  /// `2026-11-30T20:19:15Z`: computed with gmtime_r, which reads no file (Foundation's formatters may look the
  /// time zone up on first use in a thread, a readlink that the threads' system-call filters refuse).
  static func utcTimestamp(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
    var fields = tm()
    guard gmtime_r(&seconds, &fields) != nil else { return "\(seconds)" }
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return
      "\(fields.tm_year + 1900)-\(two(fields.tm_mon + 1))-\(two(fields.tm_mday))T\(two(fields.tm_hour)):\(two(fields.tm_min)):\(two(fields.tm_sec))Z"
  }

  /// The syslog priority of a level (sd-daemon(3)).
  static func priority(_ level: Logger.Level) -> Int {
    switch level {
    case .trace, .debug: 7
    case .info: 6
    case .notice: 5
    case .warning: 4
    case .error: 3
    case .critical: 2
    }
  }
}

/// Log level names as configured (`log-level = info`).
enum LogLevelName {
  /// Every accepted name.
  static let all = Logger.Level.allCases.map(\.rawValue)

  /// The level named `name`, nil if unknown.
  static func parse(_ name: String) -> Logger.Level? { Logger.Level(rawValue: name.lowercased()) }
}

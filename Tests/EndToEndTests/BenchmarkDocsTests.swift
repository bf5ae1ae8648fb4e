// BenchmarkDocsTests.swift: every `denali-bench` subcommand has its section in Docs/BENCHMARKS.md, listing the fields
// of its `--json` report, and takes `--json`; the cheap ones, run briefly, print one JSON object with exactly those
// fields.
import Foundation
import Testing

@Suite("denali-bench and Docs/BENCHMARKS.md")
struct BenchmarkDocsTests {
  /// Docs/BENCHMARKS.md.
  static func document() throws -> String {
    try String(contentsOf: Denalid.root.appendingPathComponent("Docs/BENCHMARKS.md"), encoding: .utf8)
  }

  /// The section of `document` headed `## ... (`denali-bench NAME`)`, up to the next `## ` heading.
  static func section(_ name: String, in document: String) -> String? {
    let lines = document.split(separator: "\n", omittingEmptySubsequences: false)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("## ") && $0.contains("(`denali-bench \(name)`)") })
    else { return nil }
    let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.endIndex
    return lines[start..<end].joined(separator: "\n")
  }

  /// The fields a section documents: every `name` in its paragraph starting `JSON (`--json`):`.
  static func documentedFields(in section: String) -> Set<String>? {
    guard let start = section.range(of: "JSON (`--json`):") else { return nil }
    let paragraph = section[start.upperBound...].components(separatedBy: "\n\n")[0]
    let pieces = paragraph.split(separator: "`", omittingEmptySubsequences: false)
    // The odd pieces are the ones between backquotes.
    return Set(stride(from: 1, to: pieces.count, by: 2).map { String(pieces[$0]) })
  }

  /// The subcommands and, for each, its long option names, from the program's own help (as JSON).
  static func subcommands() throws -> [String: Set<String>] {
    let result = try Denalid.run(["--experimental-dump-help"], program: Denalid.benchmarks)
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    let commands = (object?["command"] as? [String: Any])?["subcommands"] as? [[String: Any]] ?? []
    var options: [String: Set<String>] = [:]
    for command in commands {
      guard let name = command["commandName"] as? String, name != "help" else { continue }
      let arguments = command["arguments"] as? [[String: Any]] ?? []
      let names = arguments.flatMap { ($0["names"] as? [[String: Any]]) ?? [] }
      options[name] = Set(names.filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String })
    }
    return options
  }

  @Test("every subcommand has a section in Docs/BENCHMARKS.md listing its --json fields, and takes --json")
  func everySubcommandDocumented() throws {
    guard FileManager.default.isExecutableFile(atPath: Denalid.benchmarks) else {
      Issue.record("\(Denalid.benchmarks) is missing: swift build builds it")
      return
    }
    let document = try Self.document()
    let subcommands = try Self.subcommands()
    #expect(subcommands.count >= 10, "\(subcommands.keys.sorted())")
    for (name, options) in subcommands {
      #expect(options.contains("json"), "denali-bench \(name) has no --json")
      guard let section = Self.section(name, in: document) else {
        Issue.record("Docs/BENCHMARKS.md has no section headed (`denali-bench \(name)`)")
        continue
      }
      #expect(
        (Self.documentedFields(in: section) ?? []).count >= 2, "\(name): no JSON (`--json`): paragraph with its fields")
    }
  }

  @Test(
    "the cheap benchmarks, run briefly with --json, print one JSON object with exactly the documented fields",
    arguments: [
      ("boot", ["--iterations", "10", "--rounds", "1", "--image", Denalid.guest("null")]),
      ("hypercall", ["--hypercalls", "100", "--rounds", "1", "--image", Denalid.guest("nop-loop")]),
      ("idle", ["--count", "10", "--image", Denalid.guest("sleeper")]),
      ("switch", ["--switches", "100", "--rounds", "1", "--image", Denalid.guest("yield-loop")]),
    ])
  func jsonReport(name: String, arguments: [String]) throws {
    guard Denalid.ready(guests: ["null", "nop-loop", "sleeper", "yield-loop"]) else { return }
    let section = try #require(Self.section(name, in: try Self.document()))
    let documented = try #require(Self.documentedFields(in: section))
    let result = try Denalid.run([name] + arguments + ["--json"], program: Denalid.benchmarks, limit: .seconds(120))
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n")
    #expect(lines.count == 1, "one line of JSON, nothing else: \(result.stdout)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    #expect(object["benchmark"] as? String == name)
    #expect(
      Set(object.keys) == documented.union(["benchmark"]),
      "printed \(object.keys.sorted()), documented \(documented.sorted())")
    // Comparisons carry both sides and their ratio.
    for case (let key, let comparison as [String: Any]) in object {
      #expect(comparison["denalid"] is NSNumber && comparison["baseline"] is NSNumber, "\(key): \(comparison)")
      if let denalid = comparison["denalid"] as? Double, let baseline = comparison["baseline"] as? Double, baseline > 0
      {
        #expect(abs((comparison["ratio"] as? Double ?? -1) - denalid / baseline) < 1e-6, "\(key): \(comparison)")
      }
    }
  }
}

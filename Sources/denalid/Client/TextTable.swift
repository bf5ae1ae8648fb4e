// TextTable.swift: left-aligned columns for the human output of the client commands.

/// A table printed with columns padded to their widest cell (the last column is not padded).
struct TextTable {
  /// The header row.
  let header: [String]
  /// The rows, each as many cells as the header.
  var rows: [[String]] = []

  /// The table as lines of text.
  var rendered: String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
      row.enumerated().map { column, cell in
        column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
      }.joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
  }
}

extension String {
  /// `self` padded with spaces on the right to `length` characters (never cut).
  func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
    count >= length ? self : self + String(repeating: pad, count: length - count)
  }
}

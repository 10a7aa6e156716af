// Result tables (compare, specialisation, extraction): Markdown in reports and notebooks, aligned text on a
// terminal, and each row readable as a record of numbers (`t["Mod-Squad"].delta_m`).
import Foundation

public final class TableValue: ScriptObject {
    public struct Row {
        public let name: String
        /// Shown cells, one per column after the first (the row name).
        public let cells: [String]
        /// Numbers behind the cells, by key (means when a cell shows mean ± std).
        public let values: [(String, Double)]
    }

    public let title: String
    public let columns: [String]
    public private(set) var rows: [Row] = []
    /// Lines shown under the table (how numbers were measured, per-task breakdowns).
    public var notes: [String] = []
    /// What made the table ("compare", ...) and what plots of it need (the reference, the tasks).
    public var kind = ""
    public var info: [String: String] = [:]

    public init(title: String, columns: [String]) { self.title = title; self.columns = columns }

    public func add(_ name: String, cells: [String], values: [(String, Double)]) {
        rows.append(Row(name: name, cells: cells, values: values))
    }

    public var typeName: String { "table" }
    public var summary: String { plain }
    public var memberNames: [String] { rows.map(\.name) }

    public func member(_ name: String) throws -> Value? {
        guard let r = rows.first(where: { $0.name == name }) else { return nil }
        return .object(Record("row", title: r.name, fields: r.values.map { ($0.0, .number($0.1)) }))
    }

    /// A GitHub-flavoured Markdown table with the title in bold and the notes in italics.
    public var markdown: String {
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var out = ["**\(esc(title))**", ""]
        out.append("| " + columns.map(esc).joined(separator: " | ") + " |")
        out.append("|" + columns.enumerated().map { $0.offset == 0 ? ":---" : "---:" }.joined(separator: "|") + "|")
        for r in rows { out.append("| " + ([r.name] + r.cells).map(esc).joined(separator: " | ") + " |") }
        if !notes.isEmpty { out.append(""); out += notes.map { "_\(esc($0))_  " } }
        return out.joined(separator: "\n")
    }

    /// Columns padded to their widest cell (names left, numbers right).
    public var plain: String {
        let grid = [columns] + rows.map { [$0.name] + $0.cells }
        var widths = [Int](repeating: 0, count: columns.count)
        for row in grid { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, (i < widths.count ? widths[i] : 0) - c.count))
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        var out = [title, line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map { line([$0.name] + $0.cells) }
        out += notes
        return out.joined(separator: "\n")
    }
}

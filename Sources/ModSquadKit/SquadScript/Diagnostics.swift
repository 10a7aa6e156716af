// Source files, locations and located errors: `file:line:col: error: message`, the line with a caret, and near-name hints.
import SquadPluginAPI

/// A named text the lexer reads (a notebook, a REPL entry); kept to show lines in errors.
public final class SourceFile {
    public let name: String
    public let text: String
    public let lines: [String]
    /// `text` with Windows (CRLF) and old Mac (CR) line ends read as "\n".
    public init(name: String, text: String) {
        let t = normalizingLineEnds(text)
        self.name = name; self.text = t
        lines = t.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
    }
    /// Line `n` (1-based) or "".
    public func line(_ n: Int) -> String { n >= 1 && n <= lines.count ? lines[n - 1] : "" }
}

/// `text` with every CRLF and lone CR turned into LF (Swift reads "\r\n" as one Character, which is not "\n").
public func normalizingLineEnds(_ text: String) -> String {
    guard text.utf8.contains(13) else { return text }
    return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
}

/// A span on one line: 1-based line and column (in characters), length ≥ 1.
public struct SourceLocation: CustomStringConvertible {
    public let file: SourceFile
    public let line: Int, column: Int, length: Int
    public init(file: SourceFile, line: Int, column: Int, length: Int = 1) {
        self.file = file; self.line = line; self.column = column; self.length = max(1, length)
    }
    public var description: String { "\(file.name):\(line):\(column)" }
    /// From this location's start to the end of `other` (same line), else this one.
    public func through(_ other: SourceLocation) -> SourceLocation {
        guard other.line == line, other.column + other.length > column else { return self }
        return SourceLocation(file: file, line: line, column: column, length: other.column + other.length - column)
    }
}

public enum ScriptErrorKind: String, Sendable {
    case syntax = "syntax error"
    case name = "name error"
    case member = "member error"
    case argument = "argument error"
    case type = "type error"
    case value = "value error"
    case index = "index error"
    case runtime = "error"
    case interrupted = "interrupted"
}

/// An error of the language with where it happened.
public struct ScriptError: Error, CustomStringConvertible {
    public let kind: ScriptErrorKind
    public let message: String
    public var location: SourceLocation?
    public var hint: String?

    public init(_ kind: ScriptErrorKind, _ message: String, at location: SourceLocation? = nil, hint: String? = nil) {
        self.kind = kind; self.message = message; self.location = location; self.hint = hint
    }

    /// One line: `file:line:col: kind: message`.
    public var description: String {
        let head = location.map { "\($0): " } ?? ""
        return head + "\(kind.rawValue): \(message)"
    }

    /// Columns of source shown each side of the caret; longer lines are cut with "…".
    public static let contextColumns = 80

    /// The full report: the headline, the source line with a caret under the span, and the hint.
    /// On a long line only a window of ±`contextColumns` around the span is shown.
    public var rendered: String {
        var out = description
        if let loc = location {
            let text = Array(loc.file.line(loc.line))
            if !text.isEmpty {
                let num = String(loc.line)
                let pad = String(repeating: " ", count: num.count)
                let k = Self.contextColumns
                let start = min(max(0, loc.column - 1), text.count)
                let width = min(2 * k, max(1, min(loc.length, text.count - start)))
                let lo = max(0, start - k), hi = min(text.count, start + width + k)
                let cutLeft = lo > 0, cutRight = hi < text.count
                let shown = (cutLeft ? "…" : "") + String(text[lo..<hi]) + (cutRight ? "…" : "")
                let lead = (cutLeft ? " " : "") + String(text[lo..<start].map { $0 == "\t" ? "\t" : " " })
                out += "\n \(num) | \(shown)\n \(pad) | \(lead)\(String(repeating: "^", count: width))"
            }
        }
        if let h = hint { out += "\n  hint: \(h)" }
        return out
    }
}

/// The nearest of `candidates` to `name` when it is close enough to be a likely typo.
public func nearestName(_ name: String, in candidates: [String]) -> String? {
    let lower = name.lowercased()
    var best: (String, Int)? = nil
    for c in candidates where c != name {
        let d = c.lowercased() == lower ? 0 : typoDistance(c.lowercased(), lower)
        if best == nil || d < best!.1 || (d == best!.1 && c < best!.0) { best = (c, d) }
    }
    guard let (c, d) = best else { return nil }
    let limit = max(1, min(3, (name.count + 1) / 3))
    if d <= limit { return c }
    // A prefix or containment match also counts ("mi" for "mi_weight").
    if name.count >= 3, let p = candidates.first(where: { $0.hasPrefix(name) || $0.contains(name) }) { return p }
    return nil
}

/// " (did you mean 'x'?)" or "".
public func didYouMean(_ name: String, in candidates: [String]) -> String {
    nearestName(name, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
}

/// Edit distance where swapping two neighbours counts as one edit (optimal string alignment).
public func typoDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
    for i in 0...x.count { d[i][0] = i }
    for j in 0...y.count { d[0][j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[x.count][y.count]
}

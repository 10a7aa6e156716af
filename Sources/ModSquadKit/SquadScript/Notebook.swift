// .msq notebooks: cells split on `# %%` markers (Jupytext's percent format), run one by one with their outputs captured.
import Foundation
import SquadNN

public struct NotebookCell {
    public enum Kind: String { case code, markdown }
    public let kind: Kind
    /// Text after `# %%` (without a `[markdown]` tag).
    public let title: String
    /// The cell's lines after the marker; for markdown, with the leading `# ` removed.
    public let source: String
    /// The file line of the cell's first source line (1-based).
    public let firstLine: Int
    public var isEmpty: Bool { source.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
}

public enum Notebook {
    /// A notebook's text (UTF-8, a leading byte-order mark dropped). The error says why it cannot be read:
    /// no such file, a directory, permission, or the byte offset (and line) of the first byte that is not UTF-8.
    /// Messages name the file `name` (as the user wrote it), else its full path.
    public static func readText(_ url: URL, name: String? = nil) throws -> String {
        func fail(_ why: String) -> ScriptError { ScriptError(.value, "cannot read \(name ?? url.path): \(why)") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { throw fail("no such file") }
        guard !isDir.boolValue else { throw fail("it is a directory, not a notebook") }
        let data: Data
        // Data(contentsOf:) refuses pipes and terminals ("permission"): read those (msq run /dev/stdin) as a stream.
        let regular = (try? FileManager.default.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType) == .typeRegular
        do {
            if regular { data = try Data(contentsOf: url) }
            else { let h = try FileHandle(forReadingFrom: url); defer { try? h.close() }; data = try h.readToEnd() ?? Data() }
        } catch { throw fail(IOFile.reason(error)) }
        var bytes = [UInt8](data)
        if let bad = firstInvalidUTF8(bytes) {
            var line = 1
            for k in 0..<bad where bytes[k] == 10 || (bytes[k] == 13 && (k + 1 == bytes.count || bytes[k + 1] != 10)) { line += 1 }
            throw fail(String(format: "not UTF-8 text: byte 0x%02X at byte offset %d (line %d) is not valid UTF-8", bytes[bad], bad, line)
                       + "; save the notebook as UTF-8")
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence, or nil.
    public static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var it = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let s): offset += s.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    /// Whether a line is a cell marker (`# %%`, `#%%`).
    public static func isMarker(_ line: String) -> Bool {
        let t = line.drop { $0 == " " || $0 == "\t" }
        guard t.hasPrefix("#") else { return false }
        return t.dropFirst().drop { $0 == " " }.hasPrefix("%%")
    }

    /// The cells of a notebook. Text before the first marker is a cell when it holds anything.
    public static func cells(_ text: String) -> [NotebookCell] {
        let lines = normalizingLineEnds(text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var out: [NotebookCell] = []
        var title = "", kind = NotebookCell.Kind.code, body: [String] = [], first = 1, hadMarker = false
        func flush() {
            var src = body
            while let l = src.last, l.trimmingCharacters(in: .whitespaces).isEmpty { src.removeLast() }
            if kind == .markdown {
                src = src.map { l in
                    if l.hasPrefix("# ") { return String(l.dropFirst(2)) }
                    if l == "#" { return "" }
                    return l
                }
            }
            let cell = NotebookCell(kind: kind, title: title, source: src.joined(separator: "\n"), firstLine: first)
            if hadMarker || !cell.isEmpty { out.append(cell) }
        }
        for (i, line) in lines.enumerated() {
            if isMarker(line) {
                if hadMarker || !body.isEmpty { flush() }
                hadMarker = true
                var rest = line.drop { $0 == " " || $0 == "\t" }.dropFirst().drop { $0 == " " }.dropFirst(2).trimmingCharacters(in: .whitespaces)
                kind = .code
                if rest.lowercased().hasPrefix("[markdown]") || rest.lowercased().hasPrefix("[md]") {
                    kind = .markdown
                    rest = String(rest[rest.index(after: rest.firstIndex(of: "]")!)...]).trimmingCharacters(in: .whitespaces)
                }
                title = rest
                body = []
                first = i + 2
            } else {
                body.append(line)
            }
        }
        if hadMarker || !body.isEmpty { flush() }
        return out
    }
}

/// What a cell printed, in order.
public enum CellOutput {
    case text(String)
    case image(ImageValue)
    case table(TableValue)
}

public struct CellResult {
    public let cell: NotebookCell
    /// The code cell's number (1, 2, ...); nil for markdown and cells not run.
    public let number: Int?
    public let outputs: [CellOutput]
    public let error: ScriptError?
    public let seconds: Double
    public var ran: Bool { number != nil }
}

/// Collects a cell's outputs and passes them on to `echo`; progress is plain lines (reports keep them).
public final class CapturingOutput: ScriptOutput {
    public private(set) var items: [CellOutput] = []
    let echo: ScriptOutput?
    public init(echo: ScriptOutput?) { self.echo = echo }
    public var isTerminal: Bool { false }
    public func write(_ text: String) {
        if case .text(let t)? = items.last { items[items.count - 1] = .text(t + text) } else { items.append(.text(text)) }
        echo?.write(text)
    }
    public func display(_ image: ImageValue) {
        items.append(.image(image))
        echo?.display(image)
    }
    public func display(table: TableValue) {
        items.append(.table(table))
        echo?.display(table: table)
    }
    public func progress(_ line: String) { write(line + "\n") }
    public func endProgress() {}
    public func reset() { items = [] }
}

public final class NotebookRunner {
    public let interpreter: Interpreter
    public init(interpreter: Interpreter) { self.interpreter = interpreter }

    /// Runs the code cells in order. Stops after the first failing cell unless `keepGoing`;
    /// `willRun` is told before each code cell runs, `didRun` after (with its error, if any).
    public func run(_ file: SourceFile, keepGoing: Bool = false, echo: ScriptOutput? = nil,
                    willRun: ((NotebookCell, Int) -> Void)? = nil, didRun: ((CellResult) -> Void)? = nil) -> [CellResult] {
        var results: [CellResult] = []
        var number = 0, stopped = false
        let saved = interpreter.output
        defer { interpreter.output = saved }
        for cell in Notebook.cells(file.text) {
            if cell.kind == .markdown || stopped || cell.isEmpty {
                results.append(CellResult(cell: cell, number: nil, outputs: [], error: nil, seconds: 0))
                continue
            }
            number += 1
            willRun?(cell, number)
            let cap = CapturingOutput(echo: echo)
            interpreter.output = cap
            let start = Date()
            var err: ScriptError? = nil
            do { try interpreter.run(file, text: cell.source, firstLine: cell.firstLine) }
            catch let e as ScriptError { err = e }
            catch { err = ScriptError(.runtime, describe(error)) }
            let r = CellResult(cell: cell, number: number, outputs: cap.items, error: err, seconds: Date().timeIntervalSince(start))
            results.append(r)
            didRun?(r)
            if err != nil && !keepGoing { stopped = true }
        }
        return results
    }
}

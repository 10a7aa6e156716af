// The lexer: names, numbers (1e-3, 1_000), strings with escapes, brackets, operators (+ - * / < >), comments; newlines inside brackets are skipped.
import Foundation

public enum TokenKind: Equatable {
    case name(String)
    case number(Double)
    case string(String)
    case lparen, rparen, lbracket, rbracket
    case comma, colon, equals, dot, semicolon
    case plus, minus, star, slash, less, greater
    case newline, eof

    public var display: String {
        switch self {
        case .name(let n): return "'\(n)'"
        case .number(let d): return "number \(formatNumber(d))"
        case .string: return "a string"
        case .lparen: return "'('"
        case .rparen: return "')'"
        case .lbracket: return "'['"
        case .rbracket: return "']'"
        case .comma: return "','"
        case .colon: return "':'"
        case .equals: return "'='"
        case .dot: return "'.'"
        case .semicolon: return "';'"
        case .plus: return "'+'"
        case .minus: return "'-'"
        case .star: return "'*'"
        case .slash: return "'/'"
        case .less: return "'<'"
        case .greater: return "'>'"
        case .newline: return "end of line"
        case .eof: return "end of input"
        }
    }
}

public struct Token {
    public let kind: TokenKind
    public let loc: SourceLocation
}

public struct Lexer {
    let file: SourceFile
    let chars: [Character]
    var i = 0
    var line: Int, col = 1
    /// Open brackets, innermost last, with where each opened.
    public private(set) var open: [(Character, SourceLocation)] = []

    /// Lexes `text` (default: the whole file) whose first line is line `firstLine` of `file`.
    public init(_ file: SourceFile, text: String? = nil, firstLine: Int = 1) {
        self.file = file
        chars = Array(text.map(normalizingLineEnds) ?? file.text)
        line = firstLine
    }

    func loc(_ l: Int, _ c: Int, _ n: Int) -> SourceLocation { SourceLocation(file: file, line: l, column: c, length: n) }

    mutating func advance() -> Character {
        let ch = chars[i]; i += 1
        if ch == "\n" { line += 1; col = 1 } else { col += 1 }
        return ch
    }

    /// Every token, ending with `.eof`; a lexical error throws with its location.
    public mutating func tokenize() throws -> [Token] {
        var out: [Token] = []
        while true {
            let t = try next()
            // Newlines inside brackets, and repeated ones, carry nothing.
            if t.kind == .newline && (!open.isEmpty || out.last.map({ $0.kind == .newline || $0.kind == .semicolon }) ?? true) { continue }
            out.append(t)
            if t.kind == .eof { return out }
        }
    }

    mutating func next() throws -> Token {
        while i < chars.count {
            let ch = chars[i]
            if ch == " " || ch == "\t" || ch == "\r" { _ = advance(); continue }
            if ch == "#" { while i < chars.count && chars[i] != "\n" { _ = advance() }; continue }
            if ch == "\\" && i + 1 < chars.count && chars[i + 1] == "\n" { _ = advance(); _ = advance(); continue }
            break
        }
        let l = line, c = col
        guard i < chars.count else { return Token(kind: .eof, loc: loc(l, c, 1)) }
        let ch = chars[i]
        if ch == "\n" { _ = advance(); return Token(kind: .newline, loc: loc(l, c, 1)) }
        if ch.isLetter || ch == "_" {
            var s = ""
            while i < chars.count && (chars[i].isLetter || chars[i].isNumber || chars[i] == "_") { s.append(advance()) }
            return Token(kind: .name(s), loc: loc(l, c, s.count))
        }
        if ch.isASCII && ch.isNumber { return try number(l, c) }
        if ch == "\"" || ch == "'" { return try string(l, c) }
        _ = advance()
        let kind: TokenKind
        switch ch {
        case "(": kind = .lparen; open.append(("(", loc(l, c, 1)))
        case "[": kind = .lbracket; open.append(("[", loc(l, c, 1)))
        case ")", "]":
            kind = ch == ")" ? .rparen : .rbracket
            let want: Character = ch == ")" ? "(" : "["
            guard let top = open.last else { throw ScriptError(.syntax, "unmatched '\(ch)'", at: loc(l, c, 1)) }
            guard top.0 == want else {
                throw ScriptError(.syntax, "'\(ch)' does not close '\(top.0)' opened at \(top.1.line):\(top.1.column)", at: loc(l, c, 1))
            }
            open.removeLast()
        case ",": kind = .comma
        case ":": kind = .colon
        case "=": kind = .equals
        case ".": kind = .dot
        case ";": kind = .semicolon
        case "+": kind = .plus
        case "-": kind = .minus
        case "*": kind = .star
        case "/": kind = .slash
        case "<": kind = .less
        case ">": kind = .greater
        case "{", "}":
            throw ScriptError(.syntax, "unexpected '\(ch)'", at: loc(l, c, 1), hint: "lists use [ ]; named arguments use name: value")
        default:
            throw ScriptError(.syntax, "unexpected character '\(ch)'", at: loc(l, c, 1))
        }
        return Token(kind: kind, loc: loc(l, c, 1))
    }

    mutating func number(_ l: Int, _ c: Int) throws -> Token {
        var s = ""
        func digits() { while i < chars.count && ((chars[i].isASCII && chars[i].isNumber) || chars[i] == "_") { let d = advance(); if d != "_" { s.append(d) } } }
        digits()
        if i + 1 < chars.count && chars[i] == "." && chars[i + 1].isASCII && chars[i + 1].isNumber { s.append(advance()); digits() }
        var raw = s
        if i < chars.count && (chars[i] == "e" || chars[i] == "E") {
            raw.append(advance())
            if i < chars.count && (chars[i] == "+" || chars[i] == "-") { raw.append(advance()) }
            let before = raw.count
            while i < chars.count && chars[i].isASCII && chars[i].isNumber { raw.append(advance()) }
            if raw.count == before { throw ScriptError(.syntax, "malformed number '\(raw)': the exponent has no digits", at: loc(l, c, raw.count)) }
        }
        if i < chars.count && (chars[i].isLetter || chars[i] == "_") {
            var tail = raw
            while i < chars.count && (chars[i].isLetter || chars[i].isNumber || chars[i] == "_") { tail.append(advance()) }
            throw ScriptError(.syntax, "malformed number '\(tail)'", at: loc(l, c, tail.count))
        }
        guard let v = Double(raw) else { throw ScriptError(.syntax, "malformed number '\(raw)'", at: loc(l, c, raw.count)) }
        guard v.isFinite else {
            throw ScriptError(.syntax, "number \(raw) is too large", at: loc(l, c, col - c), hint: "the largest number is about 1.8e308")
        }
        return Token(kind: .number(v), loc: loc(l, c, col - c))
    }

    mutating func string(_ l: Int, _ c: Int) throws -> Token {
        let q = advance()
        var s = ""
        while true {
            guard i < chars.count, chars[i] != "\n" else {
                throw ScriptError(.syntax, "unterminated string", at: loc(l, c, 1), hint: "close it with \(q) on the same line")
            }
            let ch = advance()
            if ch == q { break }
            if ch == "\\" {
                guard i < chars.count, chars[i] != "\n" else { throw ScriptError(.syntax, "unterminated string", at: loc(l, c, 1)) }
                let el = line, ec = col
                let e = advance()
                switch e {
                case "n": s.append("\n")
                case "t": s.append("\t")
                case "\\": s.append("\\")
                case "\"": s.append("\"")
                case "'": s.append("'")
                case "0": s.append("\0")
                default: throw ScriptError(.syntax, "unknown escape '\\\(e)' in a string", at: loc(el, ec - 1, 2), hint: "escapes: \\n \\t \\\\ \\\" \\'")
                }
                continue
            }
            s.append(ch)
        }
        return Token(kind: .string(s), loc: loc(l, c, col - c))
    }
}

/// Numbers print as integers when they are whole, else with up to 6 significant digits.
public func formatNumber(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d > 0 ? "inf" : "-inf" }
    if d == d.rounded() && abs(d) < 1e15 { return String(Int(d)) }
    let a = abs(d)
    if a < 1e-3 || a >= 1e6 { return String(format: "%.4g", d) }
    return String(format: "%.6g", d)
}

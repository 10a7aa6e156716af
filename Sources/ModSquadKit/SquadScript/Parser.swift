// The parser: recursive descent over tokens into statements; errors name what was expected and where.

public struct Parser {
    let tokens: [Token]
    var p = 0
    /// Open constructs on the way down (each `expression()` entry and each sign): bounded by maxExpressionNesting.
    var depth = 0

    public init(tokens: [Token]) { self.tokens = tokens }

    /// Parses `text` (default: all of `file`) whose first line is `firstLine` of the file.
    public static func parse(_ file: SourceFile, text: String? = nil, firstLine: Int = 1) throws -> Program {
        var lx = Lexer(file, text: text, firstLine: firstLine)
        let toks: [Token]
        do { toks = try lx.tokenize() }
        catch let e as ScriptError { throw e }
        if let (ch, l) = lx.open.last {
            throw ScriptError(.syntax, "'\(ch)' is never closed", at: l, hint: "add the matching '\(ch == "(" ? ")" : "]")'")
        }
        var ps = Parser(tokens: toks)
        return try ps.program()
    }

    /// Whether `text` is unfinished input (a bracket still open) rather than an error: the REPL reads more lines.
    public static func isIncomplete(_ text: String) -> Bool {
        var lx = Lexer(SourceFile(name: "<input>", text: text))
        guard (try? lx.tokenize()) != nil else { return false }
        return !lx.open.isEmpty
    }

    var tok: Token { tokens[p] }
    var kind: TokenKind { tokens[p].kind }
    mutating func bump() -> Token { let t = tokens[p]; if p < tokens.count - 1 { p += 1 }; return t }

    static func tooDeep(at loc: SourceLocation) -> ScriptError {
        ScriptError(.syntax, "expression nested deeper than \(maxExpressionNesting)", at: loc,
                    hint: "split it into several statements with names for the parts")
    }

    /// Enters one level of nesting at the current token; throws past the limit.
    mutating func descend() throws {
        depth += 1
        if depth > maxExpressionNesting { throw Parser.tooDeep(at: tok.loc) }
    }

    /// `e`, unless it is taller than the nesting limit (chains of members, calls and indices grow without descending).
    func checked(_ e: Expr) throws -> Expr {
        if e.height > maxExpressionNesting { throw Parser.tooDeep(at: e.loc) }
        return e
    }

    func unexpected(_ expected: String) -> ScriptError {
        ScriptError(.syntax, "expected \(expected), found \(kind.display)", at: tok.loc)
    }

    mutating func program() throws -> Program {
        var out: [Statement] = []
        while true {
            while kind == .newline || kind == .semicolon { _ = bump() }
            if kind == .eof { break }
            out.append(try statement())
            switch kind {
            case .newline, .semicolon, .eof: continue
            case .equals:
                throw ScriptError(.syntax, "can only assign to a name", at: out.last!.loc, hint: "write name = value")
            default:
                throw ScriptError(.syntax, "expected the end of the statement, found \(kind.display)", at: tok.loc,
                                  hint: "put one statement per line, or separate them with ';'")
            }
        }
        return Program(statements: out)
    }

    mutating func statement() throws -> Statement {
        if case .name(let n) = kind, tokens[p + 1].kind == .equals {
            let l = bump().loc
            if ["true", "false", "none"].contains(n) { throw ScriptError(.syntax, "cannot assign to '\(n)'", at: l) }
            _ = bump()
            if kind == .newline || kind == .eof || kind == .semicolon { throw unexpected("a value after '='") }
            return .assign(n, l, try expression())
        }
        return .expression(try expression())
    }

    /// A comparison (`a < b`, `a > b`: true or false) binds looser than + and -.
    mutating func expression() throws -> Expr {
        try descend()
        defer { depth -= 1 }
        let lhs = try additive()
        guard kind == .less || kind == .greater else { return lhs }
        let op: BinaryOperator = bump().kind == .less ? .less : .greater
        let rhs = try additive()
        if kind == .less || kind == .greater { throw unexpected("the end of the comparison (chains like a < b < c are not supported)") }
        return try checked(Expr(.binary(op, lhs, rhs), lhs.loc.through(rhs.loc)))
    }

    /// `a + b - c …`: parsed in a loop into one flat chain (no recursion per term).
    mutating func additive() throws -> Expr {
        let first = try term()
        var links: [ChainLink] = [], span = first.loc
        while kind == .plus || kind == .minus {
            let op: BinaryOperator = bump().kind == .plus ? .add : .sub
            let rhs = try term()
            span = span.through(rhs.loc)
            links.append(ChainLink(op: op, rhs: rhs, loc: span))
        }
        return links.isEmpty ? first : try checked(Expr(.chain(first, links), span))
    }

    mutating func term() throws -> Expr {
        let first = try unary()
        var links: [ChainLink] = [], span = first.loc
        while kind == .star || kind == .slash {
            let op: BinaryOperator = bump().kind == .star ? .mul : .div
            let rhs = try unary()
            span = span.through(rhs.loc)
            links.append(ChainLink(op: op, rhs: rhs, loc: span))
        }
        return links.isEmpty ? first : try checked(Expr(.chain(first, links), span))
    }

    mutating func unary() throws -> Expr {
        if kind == .minus || kind == .plus {
            try descend()
            defer { depth -= 1 }
            let t = bump()
            let e = try unary()
            if t.kind == .plus { return e }
            if case .number(let v) = e.kind { return Expr(.number(-v), t.loc.through(e.loc)) }
            return try checked(Expr(.negate(e), t.loc.through(e.loc)))
        }
        return try postfix()
    }

    mutating func postfix() throws -> Expr {
        var e = try primary()
        while true {
            switch kind {
            case .lparen:
                let open = bump().loc
                let args = try arguments()
                let close = bump().loc   // ')' (the lexer guarantees the match)
                e = try checked(Expr(.call(e, args), e.loc.line == close.line ? e.loc.through(close) : e.loc.through(open)))
            case .dot:
                _ = bump()
                guard case .name(let n) = kind else { throw unexpected("a member name after '.'") }
                let nl = bump().loc
                e = try checked(Expr(.member(e, n, nl), e.loc.through(nl)))
            case .lbracket:
                _ = bump()
                let i = try expression()
                guard kind == .rbracket else { throw unexpected("']'") }
                let close = bump().loc
                e = try checked(Expr(.index(e, i), e.loc.through(close)))
            default:
                return e
            }
        }
    }

    mutating func arguments() throws -> [Argument] {
        var args: [Argument] = []
        var seenNamed = false
        var labels: Set<String> = []
        while kind != .rparen {
            if case .name(let n) = kind, tokens[p + 1].kind == .colon {
                let l = bump().loc; _ = bump()
                guard labels.insert(n).inserted else { throw ScriptError(.syntax, "argument '\(n)' is given twice", at: l) }
                if kind == .comma || kind == .rparen { throw unexpected("a value for '\(n)'") }
                args.append(Argument(label: n, labelLoc: l, value: try expression()))
                seenNamed = true
            } else {
                let v = try expression()
                if kind == .equals, case .name(let n) = v.kind {
                    throw ScriptError(.syntax, "named arguments use ':', not '='", at: tok.loc, hint: "write \(n): ...")
                }
                if seenNamed {
                    throw ScriptError(.syntax, "a positional argument cannot follow named ones", at: v.loc,
                                      hint: "put positional arguments first, or name this one")
                }
                args.append(Argument(label: nil, labelLoc: nil, value: v))
            }
            if kind == .comma { _ = bump(); continue }
            guard kind == .rparen else { throw unexpected("',' or ')' in the argument list") }
        }
        return args
    }

    mutating func primary() throws -> Expr {
        let t = tok
        switch t.kind {
        case .number(let v): _ = bump(); return Expr(.number(v), t.loc)
        case .string(let s): _ = bump(); return Expr(.string(s), t.loc)
        case .name(let n):
            _ = bump()
            switch n {
            case "true": return Expr(.bool(true), t.loc)
            case "false": return Expr(.bool(false), t.loc)
            case "none": return Expr(.none, t.loc)
            default: return Expr(.name(n), t.loc)
            }
        case .lbracket:
            _ = bump()
            var items: [Expr] = []
            while kind != .rbracket {
                items.append(try expression())
                if kind == .comma { _ = bump(); continue }
                guard kind == .rbracket else { throw unexpected("',' or ']' in the list") }
            }
            let close = bump().loc
            return try checked(Expr(.list(items), t.loc.through(close)))
        case .lparen:
            _ = bump()
            let e = try expression()
            guard kind == .rparen else { throw unexpected("')'") }
            _ = bump()
            return e
        default:
            throw unexpected("a value")
        }
    }
}

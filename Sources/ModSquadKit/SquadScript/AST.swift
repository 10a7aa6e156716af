// The syntax tree: statements (assignment, expression) and expressions, each with its source span.

public enum BinaryOperator: String { case add = "+", sub = "-", mul = "*", div = "/", less = "<", greater = ">" }

/// One link of a left-associative chain `a + b - c` or `a * b / c`: the operator, its right operand,
/// and the span of the partial result it makes (for errors).
public struct ChainLink {
    public let op: BinaryOperator
    public let rhs: Expr
    public let loc: SourceLocation
}

public indirect enum ExprKind {
    case number(Double)
    case string(String)
    case bool(Bool)
    case none
    case name(String)
    case list([Expr])
    case member(Expr, String, SourceLocation)
    case index(Expr, Expr)
    case call(Expr, [Argument])
    case negate(Expr)
    /// A comparison `a < b`, `a > b`.
    case binary(BinaryOperator, Expr, Expr)
    /// A flat chain of one precedence level, kept flat so that 10,000 terms are no deeper than two.
    case chain(Expr, [ChainLink])
}

public struct Expr {
    public let kind: ExprKind
    /// The span that a caret marks for this expression (its first line).
    public let loc: SourceLocation
    /// Nodes on the longest path from here to a leaf (a literal or a name is 1): what evaluation recurses through.
    public let height: Int
    public init(_ kind: ExprKind, _ loc: SourceLocation) {
        self.kind = kind; self.loc = loc
        switch kind {
        case .number, .string, .bool, .none, .name: height = 1
        case .list(let items): height = 1 + (items.map(\.height).max() ?? 0)
        case .member(let b, _, _), .negate(let b): height = 1 + b.height
        case let .index(b, i): height = 1 + max(b.height, i.height)
        case let .call(f, args): height = 1 + max(f.height, args.map(\.value.height).max() ?? 0)
        case let .binary(_, l, r): height = 1 + max(l.height, r.height)
        case let .chain(first, links): height = 1 + max(first.height, links.map(\.rhs.height).max() ?? 0)
        }
    }
}

/// How deeply expressions may nest (brackets, calls, signs, member and index chains): deeper input is a
/// located syntax error in the parser, and the evaluator refuses it too, instead of overflowing the stack.
public let maxExpressionNesting = 200

/// `value` or `label: value`.
public struct Argument {
    public let label: String?
    public let labelLoc: SourceLocation?
    public let value: Expr
}

public enum Statement {
    case assign(String, SourceLocation, Expr)
    case expression(Expr)

    public var loc: SourceLocation {
        switch self {
        case let .assign(_, l, e): return l.through(e.loc)
        case let .expression(e): return e.loc
        }
    }
}

public struct Program {
    public let statements: [Statement]
}

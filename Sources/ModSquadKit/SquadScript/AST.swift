// The syntax tree: statements (assignment, expression) and expressions, each with its source span.

public enum BinaryOperator: String { case add = "+", sub = "-", mul = "*", div = "/", less = "<", greater = ">" }

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
    case binary(BinaryOperator, Expr, Expr)
}

public struct Expr {
    public let kind: ExprKind
    /// The span that a caret marks for this expression (its first line).
    public let loc: SourceLocation
    public init(_ kind: ExprKind, _ loc: SourceLocation) { self.kind = kind; self.loc = loc }
}

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

// The lexer and parser: every construct, and every syntax error with its line and column.
import XCTest
import SquadScript

final class ScriptParserTests: XCTestCase {
    func parse(_ s: String) throws -> Program { try Parser.parse(SourceFile(name: "t.msq", text: s)) }

    func syntaxError(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> ScriptError? {
        do { _ = try parse(s) } catch let e as ScriptError { return e } catch { XCTFail("\(error)", file: file, line: line); return nil }
        XCTFail("expected a syntax error for: \(s)", file: file, line: line)
        return nil
    }

    func expr(_ s: String) throws -> ExprKind {
        let p = try parse(s)
        guard p.statements.count == 1, case .expression(let e) = p.statements[0] else { throw ScriptError(.syntax, "not one expression") }
        return e.kind
    }

    func testTokens() throws {
        var lx = Lexer(SourceFile(name: "t", text: "a = f(1e-3, 1_000, 2.5, \"s\\n\", 'q\\'', true) # note\n  .b[0]"))
        let kinds = try lx.tokenize().map(\.kind)
        XCTAssertEqual(kinds, [.name("a"), .equals, .name("f"), .lparen, .number(1e-3), .comma, .number(1000), .comma, .number(2.5), .comma,
                               .string("s\n"), .comma, .string("q'"), .comma, .name("true"), .rparen, .newline, .dot, .name("b"),
                               .lbracket, .number(0), .rbracket, .eof])
    }

    func testAssignmentCallsAndArguments() throws {
        let p = try parse("data = scenes(32, train: 4000, tasks: [\"depth\", \"segment\"])\n")
        guard case let .assign(name, loc, e) = p.statements[0], case let .call(callee, args) = e.kind else { return XCTFail("not an assigned call") }
        XCTAssertEqual(name, "data"); XCTAssertEqual(loc.column, 1)
        guard case .name("scenes") = callee.kind else { return XCTFail("callee") }
        XCTAssertEqual(args.map(\.label), [nil, "train", "tasks"])
        guard case .list(let items) = args[2].value.kind else { return XCTFail("list") }
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(args[1].labelLoc?.column, 19)
    }

    func testLiteralsMembersIndexAndOperators() throws {
        guard case .bool(true) = try expr("true"), case .bool(false) = try expr("false"), case .none = try expr("none") else { return XCTFail("literals") }
        guard case .number(-0.001) = try expr("-1e-3") else { return XCTFail("negative number") }
        guard case let .member(base, "params", _) = try expr("m.blocks.params"), case .member(_, "blocks", _) = base.kind else { return XCTFail("member chain") }
        guard case let .index(b, i) = try expr("data.tasks[0]"), case .member = b.kind, case .number(0) = i.kind else { return XCTFail("index") }
        // precedence: 1 + 2 * 3 is 1 + (2 * 3)
        guard case let .chain(l, links) = try expr("1 + 2 * 3"), case .number(1) = l.kind, links.count == 1, links[0].op == .add,
              case let .chain(_, inner) = links[0].rhs.kind, inner.map(\.op) == [.mul] else { return XCTFail("precedence") }
        guard case let .chain(pl, pk) = try expr("(1 + 2) * 3"), pk.map(\.op) == [.mul], case .chain(_, let sum) = pl.kind, sum.map(\.op) == [.add] else { return XCTFail("parentheses") }
        // a chain of one precedence level is one flat node, left to right
        guard case let .chain(_, ops) = try expr("1 - 2 + 3 - 4"), ops.map(\.op) == [.sub, .add, .sub] else { return XCTFail("flat chain") }
        guard case .binary(.less, _, _) = try expr("1 + 2 < 4") else { return XCTFail("comparison") }
        guard case .negate = try expr("-x") else { return XCTFail("negate") }
        guard case .list(let l) = try expr("[1, [2, 3], ]"), l.count == 2 else { return XCTFail("nested list with trailing comma") }
        guard case .call(_, let a) = try expr("f()"), a.isEmpty else { return XCTFail("empty call") }
    }

    func testStatementsCommentsCellsAndMultiLine() throws {
        let src = """
        # %% first cell
        a = 1   # a comment
        b = [1,
             2,   # inside brackets newlines do not end statements
             3]
        f(a,
          b: 2); g()

        # %% second
        c = a + \\
            1
        """
        let p = try parse(src)
        XCTAssertEqual(p.statements.count, 5)
        XCTAssertEqual(p.statements[1].loc.line, 3)
        XCTAssertEqual(p.statements[4].loc.line, 10)
    }

    func testIncompleteInput() {
        XCTAssertTrue(Parser.isIncomplete("train(m, data,"))
        XCTAssertTrue(Parser.isIncomplete("x = [1, [2,"))
        XCTAssertFalse(Parser.isIncomplete("x = [1, 2]"))
        XCTAssertFalse(Parser.isIncomplete("x = )"))          // an error, not more input
        XCTAssertFalse(Parser.isIncomplete("s = \"abc"))     // unterminated string is an error
    }

    func testLexicalErrors() {
        assertError(syntaxError("s = \"abc"), .syntax, line: 1, column: 5, "unterminated string")
        assertError(syntaxError("x = 1\ns = 'a\\qb'"), .syntax, line: 2, column: 7, "unknown escape")
        assertError(syntaxError("x = 1e"), .syntax, line: 1, column: 5, "malformed number '1e'")
        assertError(syntaxError("x = 12abc"), .syntax, line: 1, column: 5, "malformed number '12abc'")
        assertError(syntaxError("x = 3 @ 4"), .syntax, line: 1, column: 7, "unexpected character '@'")
        assertError(syntaxError("x = {1}"), .syntax, line: 1, column: 5, "unexpected '{'")
        assertError(syntaxError("f(1))"), .syntax, line: 1, column: 5, "unmatched ')'")
        assertError(syntaxError("f([1)"), .syntax, line: 1, column: 5, "')' does not close '['")
    }

    func testSyntaxErrors() {
        assertError(syntaxError("x = 1\ntrain(m,\n  data"), .syntax, line: 2, column: 6, "'(' is never closed")
        assertError(syntaxError("x ="), .syntax, line: 1, column: 4, "expected a value after '='")
        assertError(syntaxError("f(epochs=3)"), .syntax, line: 1, column: 9, "named arguments use ':'", "epochs:")
        assertError(syntaxError("f(a: 1, 2)"), .syntax, line: 1, column: 9, "positional argument cannot follow")
        assertError(syntaxError("f(a: 1, a: 2)"), .syntax, line: 1, column: 9, "'a' is given twice")
        assertError(syntaxError("m.x = 1"), .syntax, line: 1, column: 1, "can only assign to a name")
        assertError(syntaxError("a b"), .syntax, line: 1, column: 3, "expected the end of the statement")
        assertError(syntaxError("true = 1"), .syntax, line: 1, column: 1, "cannot assign to 'true'")
        assertError(syntaxError("f(1 2)"), .syntax, line: 1, column: 5, "expected ',' or ')'")
        assertError(syntaxError("[1 2]"), .syntax, line: 1, column: 4, "expected ',' or ']'")
        assertError(syntaxError("m."), .syntax, line: 1, column: 3, "expected a member name")
        assertError(syntaxError("x = ,"), .syntax, line: 1, column: 5, "expected a value")
        assertError(syntaxError("f(a:)"), .syntax, line: 1, column: 5, "expected a value for 'a'")
    }

    func testRenderedErrorShowsLineAndCaret() {
        let e = syntaxError("x = 1\ny = f(a: 1, 2)\n")
        XCTAssertEqual(e?.rendered, """
        t.msq:2:13: syntax error: a positional argument cannot follow named ones
         2 | y = f(a: 1, 2)
           |             ^
          hint: put positional arguments first, or name this one
        """)
    }

    func testNearestName() {
        XCTAssertEqual(nearestName("sceens", in: ["scenes", "squad", "save"]), "scenes")
        XCTAssertEqual(nearestName("epoch", in: ["epochs", "batch", "lr"]), "epochs")
        XCTAssertNil(nearestName("zzzz", in: ["scenes", "squad"]))
    }
}

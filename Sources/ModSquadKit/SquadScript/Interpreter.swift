// The interpreter: variables, evaluation of statements and expressions, argument binding against builtin signatures, output and interruption.
import Foundation
import Synchronization
import ModSquad

/// Where the language writes: text, pictures, and a progress meter that is redrawn on a terminal.
public protocol ScriptOutput: AnyObject {
    func write(_ text: String)
    func display(_ image: ImageValue)
    /// Shows a table (Markdown in reports; aligned text on a terminal).
    func display(table: TableValue)
    /// True: progress redraws one line; false: progress prints plain lines at intervals.
    var isTerminal: Bool { get }
    /// Redraws the transient progress line (terminals only).
    func progress(_ line: String)
    /// Ends a transient progress line.
    func endProgress()
}

/// Writes to standard output (flushing each write); pictures print their path.
public final class StandardOutput: ScriptOutput {
    public let isTerminal: Bool
    var meterShown = false
    public init(terminal: Bool? = nil) { isTerminal = terminal ?? (isatty(1) == 1) }
    public func write(_ text: String) {
        if meterShown { endProgress() }
        fputs(text, stdout); fflush(stdout)
    }
    public func display(_ image: ImageValue) { write("[image] \(image.summary)\n") }
    public func display(table: TableValue) { write(table.plain + "\n") }
    public func progress(_ line: String) {
        fputs("\r\u{1B}[2K" + line, stdout); fflush(stdout); meterShown = true
    }
    public func endProgress() {
        if meterShown { fputs("\n", stdout); fflush(stdout); meterShown = false }
    }
}

private let interruptCount = Atomic<Int>(0)

/// Ctrl-C: a signal handler requests; long loops check at step boundaries and stop cleanly.
public enum ScriptInterrupt {
    /// Async-signal-safe (one atomic add). Returns how many requests are pending, this one included.
    @discardableResult
    public static func request() -> Int { interruptCount.add(1, ordering: .relaxed).newValue }
    public static func clear() { interruptCount.store(0, ordering: .relaxed) }
    public static var isRequested: Bool { interruptCount.load(ordering: .relaxed) > 0 }
    /// Consumes pending requests: true when there was one.
    public static func take() -> Bool { interruptCount.exchange(0, ordering: .relaxed) > 0 }
}

public final class Interpreter {
    /// Values the language builds from other values stay below these (a doubling loop would exhaust memory).
    public static let maxListItems = 10_000_000, maxStringBytes = 64 << 20
    public private(set) var variables: [String: Value] = [:]
    public private(set) var variableOrder: [String] = []
    public let table: BuiltinTable
    public var output: ScriptOutput
    /// Builtins that only write files: rank 0 runs them in a data-parallel run, the others skip them.
    static let rootOnly: Set<String> = ["save", "save_batches"]
    /// Relative file paths in builtins resolve against this folder.
    public var directory: URL
    /// Counter for default plot file names.
    var plotCounter = 0

    public init(output: ScriptOutput = StandardOutput(), table: BuiltinTable = .shared,
                directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.output = output; self.table = table; self.directory = directory
    }

    public func set(_ name: String, _ v: Value) {
        if variables[name] == nil { variableOrder.append(name) }
        variables[name] = v
    }
    public func remove(_ name: String) {
        variables[name] = nil; variableOrder.removeAll { $0 == name }
    }

    /// Every name the user may write: variables, builtins, literals.
    public var knownNames: [String] { variableOrder + table.names + ["true", "false", "none"] }

    /// A path in builtins: absolute, `~/...`, or relative to `directory`.
    public func resolve(_ path: String) -> URL {
        let p = (path as NSString).expandingTildeInPath
        return p.hasPrefix("/") ? URL(fileURLWithPath: p) : directory.appendingPathComponent(p)
    }

    /// Parses and runs `text` (default the whole file); prints each expression statement's value.
    /// Returns the value of the last statement.
    @discardableResult
    public func run(_ file: SourceFile, text: String? = nil, firstLine: Int = 1) throws -> Value {
        let program = try Parser.parse(file, text: text, firstLine: firstLine)
        var last = Value.none
        for s in program.statements { last = try execute(s) }
        return last
    }

    /// Runs source text as a file named `name`.
    @discardableResult
    public func run(_ text: String, name: String = "<input>") throws -> Value {
        try run(SourceFile(name: name, text: text))
    }

    @discardableResult
    public func execute(_ s: Statement) throws -> Value {
        let root: Expr
        switch s { case .assign(_, _, let e), .expression(let e): root = e }
        // The parser keeps trees within the limit; a tree built otherwise is refused here, not overflowed on.
        if root.height > maxExpressionNesting { throw Parser.tooDeep(at: root.loc) }
        switch s {
        case let .assign(name, _, e):
            let v = try evaluate(e)
            if case .object(let m as ModelValue) = v, m.name == nil { m.name = name }   // plots and tables tell models apart by it
            set(name, v)
            return .none
        case .expression(let e):
            let v = try evaluate(e)
            show(v)
            return v
        }
    }

    /// Prints a value the way an expression statement does (pictures are displayed).
    public func show(_ v: Value) {
        switch v {
        case .none: break
        case .object(let img as ImageValue): output.display(img)
        case .object(let t as TableValue): output.display(table: t)
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .object(let o) = $0 { return o is ImageValue }; return false }):
            for case .object(let img as ImageValue) in l { output.display(img) }
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .object = $0 { return true }; return false }):
            for v in l { output.write(v.summary + "\n") }   // models, records: one line each
        default: output.write(v.summary + "\n")
        }
    }

    public func evaluate(_ e: Expr) throws -> Value {
        switch e.kind {
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .none: return .none
        case .list(let items): return .list(try items.map(evaluate))
        case .name(let n): return try lookup(n, at: e.loc)
        case let .member(base, name, nameLoc):
            let v = try evaluate(base)
            if let m = try located({ try v.member(name) }, at: nameLoc) { return m }
            let names = v.memberNames
            let what = v.typeDescription
            let listing = names.isEmpty ? "it has no members" : "members: " + names.joined(separator: ", ")
            throw ScriptError(.member, "\(what) has no member '\(name)'\(didYouMean(name, in: names))", at: nameLoc, hint: listing)
        case let .index(base, index):
            return try subscriptValue(try evaluate(base), try evaluate(index), at: e.loc, indexLoc: index.loc)
        case let .call(callee, args):
            let f = try evaluate(callee)
            guard case .function(let b) = f else {
                var name = "this"
                if case .name(let n) = callee.kind { name = "'\(n)'" }
                throw ScriptError(.type, "\(name) is \(f.typeDescription), not a function", at: callee.loc)
            }
            return try call(b, args, at: e.loc)
        case .negate(let inner):
            let v = try evaluate(inner)
            guard case .number(let d) = v else { throw ScriptError(.type, "cannot negate \(v.typeDescription)", at: e.loc) }
            return .number(-d)
        case let .binary(op, l, r):
            return try binary(op, try evaluate(l), try evaluate(r), at: e.loc)
        case let .chain(first, links):
            var v = try evaluate(first)
            for link in links { v = try binary(link.op, v, try evaluate(link.rhs), at: link.loc) }
            return v
        }
    }

    func lookup(_ n: String, at loc: SourceLocation) throws -> Value {
        if let v = variables[n] { return v }
        if let b = table.lookup(n) { return .function(b) }
        let hintNames = ["True": "true", "False": "false", "None": "none", "null": "none", "nil": "none"]
        if let fix = hintNames[n] { throw ScriptError(.name, "unknown name '\(n)' (did you mean '\(fix)'?)", at: loc) }
        throw ScriptError(.name, "unknown name '\(n)'\(didYouMean(n, in: knownNames))", at: loc,
                          hint: variables.isEmpty ? "builtins are listed by :help" : nil)
    }

    func located<T>(_ body: () throws -> T, at loc: SourceLocation) throws -> T {
        do { return try body() }
        catch var e as ScriptError { if e.location == nil { e.location = loc }; throw e }
        catch { throw ScriptError(.runtime, describe(error), at: loc) }
    }

    func subscriptValue(_ base: Value, _ index: Value, at loc: SourceLocation, indexLoc: SourceLocation) throws -> Value {
        switch (base, index) {
        case (.list(let l), .number(let d)):
            guard abs(d) < 1e15 else { throw ScriptError(.index, "index \(formatNumber(d)) is out of range for a list of \(l.count)", at: indexLoc) }
            guard d == d.rounded() else { throw ScriptError(.type, "a list index must be an integer, got \(formatNumber(d))", at: indexLoc) }
            let i = Int(d) < 0 ? l.count + Int(d) : Int(d)
            guard i >= 0 && i < l.count else { throw ScriptError(.index, "index \(Int(d)) is out of range for a list of \(l.count)", at: indexLoc) }
            return l[i]
        case (.string(let s), .number(let d)):
            guard abs(d) < 1e15 else { throw ScriptError(.index, "index \(formatNumber(d)) is out of range for a string of \(s.count)", at: indexLoc) }
            guard d == d.rounded() else { throw ScriptError(.type, "a string index must be an integer, got \(formatNumber(d))", at: indexLoc) }
            let i = Int(d) < 0 ? s.count + Int(d) : Int(d)
            guard i >= 0 && i < s.count else { throw ScriptError(.index, "index \(Int(d)) is out of range for a string of \(s.count)", at: indexLoc) }
            return .string(String(s[s.index(s.startIndex, offsetBy: i)]))
        case (_, .string(let name)) where !base.memberNames.isEmpty:
            if let m = try located({ try base.member(name) }, at: indexLoc) { return m }
            throw ScriptError(.index, "\(base.typeDescription) has no entry \"\(name)\"\(didYouMean(name, in: base.memberNames))", at: indexLoc,
                              hint: "entries: " + base.memberNames.joined(separator: ", "))
        default:
            throw ScriptError(.type, "cannot index \(base.typeDescription) with \(index.typeDescription)", at: loc)
        }
    }

    func binary(_ op: BinaryOperator, _ a: Value, _ b: Value, at loc: SourceLocation) throws -> Value {
        switch (op, a, b) {
        case let (_, .number(x), .number(y)):
            switch op {
            case .add: return .number(x + y)
            case .sub: return .number(x - y)
            case .mul: return .number(x * y)
            case .div:
                guard y != 0 else { throw ScriptError(.value, "division by zero", at: loc) }
                return .number(x / y)
            case .less: return .bool(x < y)
            case .greater: return .bool(x > y)
            }
        case let (.less, .string(x), .string(y)): return .bool(x < y)
        case let (.greater, .string(x), .string(y)): return .bool(x > y)
        case let (.add, .string(x), .string(y)):
            guard x.utf8.count + y.utf8.count <= Interpreter.maxStringBytes else {
                throw ScriptError(.value, "the joined string would exceed \(Interpreter.maxStringBytes / 1_048_576) MiB", at: loc)
            }
            return .string(x + y)
        case let (.add, .list(x), .list(y)):
            guard x.count + y.count <= Interpreter.maxListItems else { throw ScriptError(.value, "the joined list would exceed \(Interpreter.maxListItems) items", at: loc) }
            return .list(x + y)
        case let (.mul, .list(x), .number(n)) where n == n.rounded() && n >= 0 && n < 1e15:
            guard Double(x.count) * n <= Double(Interpreter.maxListItems) else {
                throw ScriptError(.value, "\(x.count) items × \(formatNumber(n)) would exceed \(Interpreter.maxListItems) items", at: loc)
            }
            return .list(Array([[Value]](repeating: x, count: Int(n)).joined()))
        default:
            let verb = ["+": "add", "-": "subtract", "*": "multiply", "/": "divide", "<": "compare", ">": "compare"][op.rawValue] ?? op.rawValue
            throw ScriptError(.type, "cannot \(verb) \(a.typeDescription) and \(b.typeDescription) with '\(op.rawValue)'", at: loc)
        }
    }

    /// Binds arguments to the builtin's parameters, checks them, and runs it.
    public func call(_ b: Builtin, _ args: [Argument], at loc: SourceLocation) throws -> Value {
        var values: [String: Value] = [:], locs: [String: SourceLocation] = [:], rest: [Value] = []
        var position = 0
        for a in args {
            let v = try evaluate(a.value)
            if let label = a.label, let ll = a.labelLoc {
                guard b.params.contains(where: { $0.name == label }) else {
                    throw ScriptError(.argument, "\(b.name) has no parameter '\(label)'\(didYouMean(label, in: b.params.map(\.name)))",
                                      at: ll, hint: "signature: \(b.signature)")
                }
                guard values[label] == nil else {
                    throw ScriptError(.argument, "\(b.name): argument '\(label)' is given twice (by position and by name)", at: ll)
                }
                values[label] = v; locs[label] = ll.through(a.value.loc)
            } else if position < b.params.count {
                values[b.params[position].name] = v; locs[b.params[position].name] = a.value.loc
                position += 1
            } else if b.variadic {
                rest.append(v)
            } else {
                let n = b.params.count
                throw ScriptError(.argument, "\(b.name) takes \(n == 0 ? "no" : "at most \(n)") positional argument\(n == 1 ? "" : "s")",
                                  at: a.value.loc, hint: "signature: \(b.signature)")
            }
        }
        for p in b.params {
            if let v = values[p.name] {
                if v.isNone && !p.required { continue }
                guard p.type.accepts(v) else {
                    throw ScriptError(.argument, "\(b.name): parameter '\(p.name)' expects \(p.type.expected), got \(v.typeDescription)",
                                      at: locs[p.name] ?? loc, hint: p.doc.isEmpty ? nil : "\(p.name): \(p.doc)")
                }
                if case .number(let d) = v, let r = p.effectiveRange, !r.contains(d) {
                    throw ScriptError(.argument, "\(b.name): parameter '\(p.name)' must be in \(r), got \(formatNumber(d))",
                                      at: locs[p.name] ?? loc, hint: p.doc.isEmpty ? nil : "\(p.name): \(p.doc)")
                }
            } else if let d = p.defaultValue {
                values[p.name] = d
            } else {
                throw ScriptError(.argument, "\(b.name): missing the required argument '\(p.name)' (\(p.type.expected))", at: loc,
                                  hint: "signature: \(b.signature)")
            }
        }
        // Under mpirun, files (plots, saved models and batches) are written once, by rank 0.
        if !Distributed.isRoot && (b.category == "plots" || Interpreter.rootOnly.contains(b.name)) { return .none }
        let ctx = CallContext(interpreter: self, builtin: b, location: loc, values: values, locations: locs, rest: rest)
        do { return try b.body(ctx) }
        catch var e as ScriptError { if e.location == nil { e.location = loc }; throw e }
        catch {
            let d = describe(error)   // errors that already name the builtin are not prefixed twice
            throw ScriptError(.runtime, d.hasPrefix(b.name + ":") ? d : "\(b.name): \(d)", at: loc)
        }
    }
}

/// An error's message: its description when it has one.
public func describe(_ error: Error) -> String {
    String(describing: error)
}

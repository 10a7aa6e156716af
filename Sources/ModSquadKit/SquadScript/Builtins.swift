// The builtins table: each builtin has a signature (typed, defaulted parameters), a one-line doc and a body; plugins extend the table.
import Foundation
import SquadPluginAPI

/// What a parameter accepts; used to check arguments and to print signatures.
public indirect enum ParamType {
    case any, number, int, string, bool, list
    case strings                  // a list of strings (a single string is taken as a one-item list)
    case object(String)           // an object of this type name ("model", "dataset")
    case choice([String])         // one of these strings
    case oneOf([ParamType])

    public var expected: String {
        switch self {
        case .any: return "a value"
        case .number: return "a number"
        case .int: return "an integer"
        case .string: return "a string"
        case .bool: return "true or false"
        case .list: return "a list"
        case .strings: return "a list of strings"
        case .object(let t): return article(t)
        case .choice(let c): return "one of " + c.map { "\"\($0)\"" }.joined(separator: ", ")
        case .oneOf(let ts): return ts.map(\.expected).joined(separator: " or ")
        }
    }

    public func accepts(_ v: Value) -> Bool {
        switch (self, v) {
        case (.any, _): return true
        case (.number, .number): return true
        case (.int, .number(let d)): return d == d.rounded() && abs(d) < 1e15
        case (.string, .string): return true
        case (.bool, .bool): return true
        case (.list, .list): return true
        case (.strings, .string): return true
        case (.strings, .list(let l)): return l.allSatisfy { if case .string = $0 { return true }; return false }
        case (.object(let t), .object(let o)): return o.typeName == t
        case (.choice(let c), .string(let s)): return c.contains(s)
        case (.oneOf(let ts), _): return ts.contains { $0.accepts(v) }
        default: return false
        }
    }
}

public struct ParamSpec {
    public let name: String
    public let type: ParamType
    /// nil: required. `.none`: optional without a default.
    public let defaultValue: Value?
    public let doc: String
    /// The numbers this parameter takes (nil: the range ParamRanges gives its name).
    public let range: ValueRange?
    public init(_ name: String, _ type: ParamType, _ defaultValue: Value? = nil, _ doc: String = "", range: ValueRange? = nil) {
        self.name = name; self.type = type; self.defaultValue = defaultValue; self.doc = doc; self.range = range
    }
    public var required: Bool { defaultValue == nil }
    /// `name` or `name: default`.
    public var display: String {
        guard let d = defaultValue else { return name }
        return "\(name): \(d.render(top: false))"
    }
}

/// One builtin: name, parameters, doc line, category (for :help) and the body.
public final class Builtin {
    public let name: String
    public let params: [ParamSpec]
    public let doc: String
    public let category: String
    /// Extra positional arguments are collected (print).
    public let variadic: Bool
    let body: (CallContext) throws -> Value

    public init(_ name: String, _ params: [ParamSpec], doc: String, category: String = "misc", variadic: Bool = false,
                body: @escaping (CallContext) throws -> Value) {
        self.name = name; self.params = params; self.doc = doc; self.category = category; self.variadic = variadic; self.body = body
    }

    public var signature: String {
        name + "(" + (params.map(\.display) + (variadic ? ["..."] : [])).joined(separator: ", ") + ")"
    }

    /// The help text: signature, doc and one line per documented parameter.
    public var help: String {
        var lines = [signature, "  " + doc]
        for p in params where !p.doc.isEmpty {
            let expected = p.type.expected
            var shown = p.doc.lowercased().hasPrefix(expected) ? p.doc : "\(p.doc) (\(expected))"
            if let r = p.effectiveRange { shown += ", in \(r)" }
            lines.append("    \(p.name): \(shown)")
        }
        return lines.joined(separator: "\n")
    }
}

/// The bound arguments of one call, with typed accessors whose errors name the parameter.
public struct CallContext {
    public let interpreter: Interpreter
    public let builtin: Builtin
    public let location: SourceLocation?
    public let values: [String: Value]
    let locations: [String: SourceLocation]
    public let rest: [Value]

    public var output: ScriptOutput { interpreter.output }

    /// The argument (or its default); nil when it is none.
    public func value(_ name: String) -> Value? {
        guard let v = values[name], !v.isNone else { return nil }
        return v
    }
    public func has(_ name: String) -> Bool { value(name) != nil }
    /// Whether the caller wrote this argument (not a default).
    public func given(_ name: String) -> Bool { locations[name] != nil }

    /// An error located at this argument (or the call).
    public func error(_ name: String, _ message: String, hint: String? = nil) -> ScriptError {
        ScriptError(.argument, "\(builtin.name): parameter '\(name)' \(message)", at: locations[name] ?? location, hint: hint)
    }
    func mismatch(_ name: String, _ expected: String) -> ScriptError {
        error(name, "expects \(expected), got \(values[name]?.typeDescription ?? "nothing")")
    }

    public func number(_ name: String) throws -> Double? {
        guard let v = value(name) else { return nil }
        guard case .number(let d) = v else { throw mismatch(name, "a number") }
        return d
    }
    public func number(_ name: String, _ d: Double) throws -> Double { try number(name) ?? d }
    public func int(_ name: String) throws -> Int? {
        guard let v = value(name) else { return nil }
        guard case .number(let d) = v, d == d.rounded(), abs(d) < 1e15 else { throw mismatch(name, "an integer") }
        return Int(d)
    }
    public func int(_ name: String, _ d: Int) throws -> Int { try int(name) ?? d }
    /// An integer ≥ `min`.
    public func count(_ name: String, _ d: Int, min lo: Int = 1) throws -> Int {
        let v = try int(name) ?? d
        guard v >= lo else { throw error(name, "must be at least \(lo), got \(v)") }
        return v
    }
    public func string(_ name: String) throws -> String? {
        guard let v = value(name) else { return nil }
        guard case .string(let s) = v else { throw mismatch(name, "a string") }
        return s
    }
    public func string(_ name: String, _ d: String) throws -> String { try string(name) ?? d }
    public func bool(_ name: String, _ d: Bool) throws -> Bool {
        guard let v = value(name) else { return d }
        guard case .bool(let b) = v else { throw mismatch(name, "true or false") }
        return b
    }
    public func strings(_ name: String) throws -> [String]? {
        guard let v = value(name) else { return nil }
        if case .string(let s) = v { return [s] }
        guard case .list(let l) = v else { throw mismatch(name, "a list of strings") }
        return try l.map { guard case .string(let s) = $0 else { throw mismatch(name, "a list of strings") }; return s }
    }
    public func object<T>(_ name: String, as: T.Type) throws -> T? {
        guard let v = value(name) else { return nil }
        guard case .object(let o) = v, let t = o as? T else { throw mismatch(name, builtin.params.first { $0.name == name }?.type.expected ?? "an object") }
        return t
    }
    public func require<T>(_ name: String, as t: T.Type) throws -> T {
        guard let v = try object(name, as: t) else { throw error(name, "is required") }
        return v
    }
}

/// Every builtin by name: the core ones, those plugins register, and one per registered dataset plugin.
public final class BuiltinTable: @unchecked Sendable {
    public static let shared = BuiltinTable(core: true)

    private var entries: [String: Builtin] = [:]
    private var order: [String] = []
    private let lock = NSLock()
    public let registry: PluginRegistry

    public init(core: Bool = false, registry: PluginRegistry = .shared) {
        self.registry = registry
        if core { for b in coreBuiltins() { register(b) } }
    }

    /// Adds (or replaces) a builtin; plugins call this to extend the language.
    public func register(_ b: Builtin) {
        lock.lock(); defer { lock.unlock() }
        if entries[b.name] == nil { order.append(b.name) }
        entries[b.name] = b
    }

    public func lookup(_ name: String) -> Builtin? {
        lock.lock()
        let b = entries[name]
        lock.unlock()
        if let b = b { return b }
        if let d = try? registry.dataset(name) { return datasetBuiltin(d) }
        return nil
    }

    /// Every builtin, core ones in registration order, then datasets from the registry.
    public var all: [Builtin] {
        lock.lock()
        var out = order.compactMap { entries[$0] }
        lock.unlock()
        let have = Set(out.map(\.name))
        for n in registry.datasetNames where !have.contains(n) { if let d = try? registry.dataset(n) { out.append(datasetBuiltin(d)) } }
        return out
    }
    public var names: [String] { all.map(\.name) }
}

/// The builtins of the language itself (each part lists its own).
func coreBuiltins() -> [Builtin] {
    let parts: [[Builtin]] = [basicBuiltins(), modelBuiltins(), trainingBuiltins(), exportBuiltins(), predictBuiltins(), trivialBuiltins(), extraBuiltins()]
    return parts.flatMap { $0 }
}

/// Hook for builtins defined in later parts (plots); empty when they are absent.
func extraBuiltins() -> [Builtin] { plotBuiltins() + studyBuiltins() }

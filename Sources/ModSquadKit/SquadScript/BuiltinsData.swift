// Dataset builtins, made from the registry: every DatasetPlugin X is callable as X(...) with its parameters as named arguments.
import Foundation
import SquadPluginAPI

/// Sample counts fast mode caps (per split parameter name).
let fastSampleCaps: [String: Double] = ["train": 192, "test": 64, "samples": 192, "count": 192, "n": 192, "limit": 192]

/// The builtin for a dataset plugin: parameters from its ParameterInfo, values passed as PluginArguments.
func datasetBuiltin(_ plugin: DatasetPlugin) -> Builtin {
    let params = plugin.parameters.map { info in
        ParamSpec(info.name, paramType(info.type), info.defaultValue.map(literalValue) ?? Value.none, info.doc,
                  range: info.range.map { ValueRange($0.lowerBound, $0.upperBound) })
    }
    return Builtin(plugin.name, params, doc: plugin.summary, category: "data") { ctx in
        var values: [String: PluginValue] = [:]
        for p in params {
            guard let v = ctx.value(p.name) else { continue }
            guard ctx.given(p.name) else { continue }   // defaults are the plugin's own
            guard let pv = pluginValue(v) else { throw ctx.error(p.name, "expects \(p.type.expected), got \(v.typeDescription)") }
            values[p.name] = pv
        }
        if ScriptSettings.fast {
            for p in params { if let cap = fastSampleCaps[p.name] {
                var n = cap
                if case .some(.number(let d)) = values[p.name] { n = min(d, cap) }
                else if case .some(.number(let d)) = ctx.values[p.name] { n = min(d, cap) }
                values[p.name] = .number(n)
            } }
        }
        let ds: MultiTaskDataset
        do { ds = try plugin.make(PluginArguments(owner: plugin.name, values)) }
        catch let e as PluginError {
            if case let .badArgument(_, param, message) = e { throw ctx.error(param, message) }
            throw ScriptError(.runtime, e.description)
        }
        return .object(DatasetValue(ds, source: plugin.name))
    }
}

/// A plugin parameter's declared type ("int", "number", "string", "bool", "[string]", "list" ...).
func paramType(_ t: String) -> ParamType {
    let s = t.lowercased().replacingOccurrences(of: " ", with: "")
    switch s {
    case "int", "integer", "count": return .int
    case "number", "float", "double", "real": return .number
    case "string", "str", "path", "text": return .string
    case "bool", "boolean", "flag": return .bool
    case "[string]", "[str]", "strings", "[strings]", "list<string>", "tasks": return .strings
    case "list", "[number]", "[int]", "[float]": return .list
    default:
        if s.contains("|") { return .choice(s.split(separator: "|").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }) }
        return .any
    }
}

/// A default written as text ("32", "1e-3", "\"x\"", "[\"a\", \"b\"]", "true") as a value; other text stays a string.
func literalValue(_ text: String) -> Value {
    let file = SourceFile(name: "<default>", text: text)
    if let prog = try? Parser.parse(file), prog.statements.count == 1, case .expression(let e) = prog.statements[0], let v = constant(e) { return v }
    return .string(text)
}

func constant(_ e: Expr) -> Value? {
    switch e.kind {
    case .number(let d): return .number(d)
    case .string(let s): return .string(s)
    case .bool(let b): return .bool(b)
    case .none: return Value.none
    case .list(let items):
        var out: [Value] = []
        for i in items { guard let v = constant(i) else { return nil }; out.append(v) }
        return .list(out)
    default: return nil
    }
}

/// Language values that plugins can take.
func pluginValue(_ v: Value) -> PluginValue? {
    switch v {
    case .number(let d): return .number(d)
    case .string(let s): return .string(s)
    case .bool(let b): return .bool(b)
    case .list(let l):
        var out: [PluginValue] = []
        for x in l { guard let p = pluginValue(x) else { return nil }; out.append(p) }
        return .list(out)
    default: return nil
    }
}

// Values of the language: none, numbers, strings, booleans, lists, objects (models, datasets, records, images) and builtins; each prints one line.
import Foundation

/// An object the language can hold: it names its type, prints one line, and has members.
public protocol ScriptObject: AnyObject {
    /// "model", "dataset", "metrics", "image" ... (used in messages: "a model").
    var typeName: String { get }
    var summary: String { get }
    var memberNames: [String] { get }
    /// The member's value, or nil when there is no such member.
    func member(_ name: String) throws -> Value?
}

public enum Value {
    case none
    case number(Double)
    case string(String)
    case bool(Bool)
    case list([Value])
    case object(ScriptObject)
    case function(Builtin)

    /// The one-line summary an expression statement prints.
    public var summary: String { render(top: true) }

    func render(top: Bool) -> String {
        switch self {
        case .none: return "none"
        case .number(let d): return formatNumber(d)
        case .string(let s): return top ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
        case .bool(let b): return b ? "true" : "false"
        case .list(let l):
            var parts: [String] = []
            var width = 2
            for (i, v) in l.enumerated() {
                let s = v.render(top: false)
                if width + s.count > 160 && i > 0 { parts.append("… \(l.count - i) more"); break }
                parts.append(s); width += s.count + 2
            }
            return "[" + parts.joined(separator: ", ") + "]"
        case .object(let o): return top ? o.summary : (o as? ModelValue).map { "<model \($0.label)>" } ?? "<\(o.typeName)>"
        case .function(let b): return "<builtin \(b.signature)>"
        }
    }

    /// The kind of value with an article, for messages: "a number", "a model".
    public var typeDescription: String {
        switch self {
        case .none: return "none"
        case .number(let d): return "the number \(formatNumber(d))"
        case .string(let s): return "the string \"\(s.count > 30 ? String(s.prefix(30)) + "…" : s)\""
        case .bool(let b): return b ? "true" : "false"
        case .list: return "a list"
        case .object(let o): return article(o.typeName)
        case .function(let b): return "the builtin \(b.name)"
        }
    }

    /// The bare type name: number, string, bool, list, none, builtin or the object's type.
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .number: return "number"
        case .string: return "string"
        case .bool: return "bool"
        case .list: return "list"
        case .object(let o): return o.typeName
        case .function: return "builtin"
        }
    }

    public var memberNames: [String] {
        switch self {
        case .object(let o): return o.memberNames
        case .list: return ["length"]
        case .string: return ["length"]
        case .function: return ["name", "doc", "signature"]
        default: return []
        }
    }

    public func member(_ name: String) throws -> Value? {
        switch self {
        case .object(let o): return try o.member(name)
        case .list(let l): return name == "length" ? .number(Double(l.count)) : nil
        case .string(let s): return name == "length" ? .number(Double(s.count)) : nil
        case .function(let b):
            switch name {
            case "name": return .string(b.name)
            case "doc": return .string(b.doc)
            case "signature": return .string(b.signature)
            default: return nil
            }
        default: return nil
        }
    }

    public var isNone: Bool { if case .none = self { return true }; return false }
}

func article(_ noun: String) -> String {
    guard let f = noun.first else { return noun }
    return ("aeiou".contains(f) ? "an " : "a ") + noun
}

/// Named fields with a title: metrics, step logs, reports. Members are the fields.
public final class Record: ScriptObject {
    public let typeName: String
    public let title: String
    public private(set) var fields: [(String, Value)]
    /// Overrides the generated one-line summary.
    public var customSummary: String?
    /// For metric rows: whether each metric is better higher.
    public var higherIsBetter: [String: Bool] = [:]

    public init(_ typeName: String, title: String, fields: [(String, Value)] = [], summary: String? = nil) {
        self.typeName = typeName; self.title = title; self.fields = fields; customSummary = summary
    }
    public func set(_ name: String, _ v: Value) {
        if let i = fields.firstIndex(where: { $0.0 == name }) { fields[i].1 = v } else { fields.append((name, v)) }
    }
    public subscript(_ name: String) -> Value? { fields.first { $0.0 == name }?.1 }

    public var summary: String {
        if let s = customSummary { return s }
        let body = fields.map { k, v -> String in
            if case .object(let r as Record) = v { return "\(k) {" + r.fields.map { "\($0.0) \($0.1.render(top: false))" }.joined(separator: ", ") + "}" }
            return "\(k) \(v.render(top: false))"
        }.joined(separator: ", ")
        return title.isEmpty ? body : title + (body.isEmpty ? "" : ": " + body)
    }
    public var memberNames: [String] { fields.map(\.0) }
    public func member(_ name: String) throws -> Value? { self[name] }
}

/// A picture written to a PNG file (plots); notebooks show it.
public final class ImageValue: ScriptObject {
    public let path: String
    public let title: String
    public let width: Int, height: Int
    /// The path as the user sees it (relative to the session's folder when inside it).
    public let shownPath: String
    public init(path: String, title: String, width: Int = 0, height: Int = 0, shownPath: String? = nil) {
        self.path = path; self.title = title; self.width = width; self.height = height; self.shownPath = shownPath ?? path
    }
    public var typeName: String { "image" }
    public var summary: String { "\(title): \(shownPath)" + (width > 0 ? " (\(width)×\(height))" : "") }
    public var memberNames: [String] { ["path", "title", "width", "height"] }
    public func member(_ name: String) throws -> Value? {
        switch name {
        case "path": return .string(path)
        case "title": return .string(title)
        case "width": return .number(Double(width))
        case "height": return .number(Double(height))
        default: return nil
        }
    }
}

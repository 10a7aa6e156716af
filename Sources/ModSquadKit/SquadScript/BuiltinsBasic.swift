// Builtins of the language itself: help, plugins, load_plugin, print, len, and the help texts :help and :plugins share.
import Foundation
import SquadPluginAPI

func basicBuiltins() -> [Builtin] {
    [
        Builtin("help", [ParamSpec("topic", .any, Value.none, "a builtin (or its name) or a plugin name")],
                doc: "Shows a builtin's signature and doc, a plugin's summary, or every builtin.", category: "help") { ctx in
            var topic: String? = nil
            switch ctx.value("topic") {
            case nil: topic = nil
            case .some(.function(let b)): topic = b.name
            case .some(.string(let s)): topic = s
            case .some(let v): throw ctx.error("topic", "expects a builtin or a name, got \(v.typeDescription)")
            }
            ctx.output.write(try ctx.interpreter.helpText(topic) + "\n")
            return .none
        },
        Builtin("plugins", [], doc: "Lists the registered plugins: tasks, datasets, aux losses, gatings, with their source.", category: "help") { ctx in
            ctx.output.write(ctx.interpreter.pluginsText() + "\n")
            return .none
        },
        Builtin("load_plugin", [ParamSpec("path", .string, nil, "a plugin .so built against ModSquadKit, or a plugin package folder (built first)"),
                                ParamSpec("configuration", .choice(["release", "debug"]), .string("release"), "with a package folder: swift build's configuration"),
                                ParamSpec("scratch", .string, Value.none, "with a package folder: swift build's --scratch-path (default its own .build)")],
                doc: "Loads an out-of-tree plugin (.so, or a package folder it builds first): its tasks, datasets, losses and gatings become usable.", category: "help") { ctx in
            let given = try ctx.string("path") ?? ""
            var path = ctx.interpreter.resolve(given).path
            // a relative path is tried from the working folder, then from the notebook's own folder
            if !FileManager.default.fileExists(atPath: path), !given.hasPrefix("/"), !given.hasPrefix("~"),
               let src = ctx.location?.file.name, src.hasSuffix(".msq") {
                let alt = ctx.interpreter.resolve(src).deletingLastPathComponent().appendingPathComponent(given).standardized.path
                if FileManager.default.fileExists(atPath: alt) { path = alt }
            }
            let before = Set(ctx.interpreter.table.registry.listing().map { "\($0.kind) \($0.name)" })
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                let dir = URL(fileURLWithPath: path)
                guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) else {
                    throw ctx.error("path", "is a folder without Package.swift: give a plugin .so or a plugin package")
                }
                // fast mode (MSQ_FAST) builds in debug, in one scratch folder per package under the temporary folder
                let fastScratch = FileManager.default.temporaryDirectory.appendingPathComponent("msq-plugin-\(dir.lastPathComponent)-debug")
                let configuration = ScriptSettings.fast && !ctx.given("configuration") ? "debug" : try ctx.string("configuration", "release")
                let scratch = try ctx.string("scratch").map { ctx.interpreter.resolve($0) } ?? (ScriptSettings.fast ? fastScratch : nil)
                let libs = try buildPluginPackage(dir, configuration: configuration, scratch: scratch, output: ctx.output)
                for lib in libs { try loadPluginLibrary(lib, registry: ctx.interpreter.table.registry) }
            } else {
                try loadPluginLibrary(path, registry: ctx.interpreter.table.registry)
            }
            let added = ctx.interpreter.table.registry.listing().filter { !before.contains("\($0.kind) \($0.name)") }
            ctx.output.write("loaded \(path): " + (added.isEmpty ? "nothing new registered" : added.map { "\($0.kind) \($0.name)" }.joined(separator: ", ")) + "\n")
            return .none
        },
        Builtin("print", [], doc: "Prints values separated by spaces (strings without quotes).", category: "misc", variadic: true) { ctx in
            ctx.output.write(ctx.rest.map(\.summary).joined(separator: " ") + "\n")
            return .none
        },
        Builtin("len", [ParamSpec("value", .any, nil, "a list or string")], doc: "The number of items of a list or characters of a string.", category: "misc") { ctx in
            switch ctx.value("value") {
            case .some(.list(let l)): return .number(Double(l.count))
            case .some(.string(let s)): return .number(Double(s.count))
            case let v: throw ctx.error("value", "expects a list or a string, got \(v?.typeDescription ?? "none")")
            }
        },
    ]
}

extension Interpreter {
    /// `:help` and `help()`: every builtin by category, or one topic.
    public func helpText(_ topic: String?) throws -> String {
        guard let t = topic, !t.isEmpty else {
            var groups: [(String, [Builtin])] = []
            for b in table.all {
                let cat = b.category
                if let i = groups.firstIndex(where: { $0.0 == cat }) { groups[i].1.append(b) } else { groups.append((cat, [b])) }
            }
            let order = ["data", "models", "training", "study", "plots", "help", "misc"]
            groups.sort { (order.firstIndex(of: $0.0) ?? order.count) < (order.firstIndex(of: $1.0) ?? order.count) }
            let width = (table.all.map(\.name.count).max() ?? 14) + 2
            var lines = ["builtins (help(\"name\") or :help name for one):"]
            for (cat, bs) in groups {
                lines.append("  \(cat):")
                for b in bs { lines.append("    " + b.name.padding(toLength: width, withPad: " ", startingAt: 0) + b.doc) }
            }
            return lines.joined(separator: "\n")
        }
        if let b = table.lookup(t) { return b.help }
        if let p = table.registry.listing().first(where: { $0.name == t }) {
            var s = "\(p.kind) plugin '\(p.name)' (\(p.source)): \(p.summary)"
            if p.kind == "task", let tp = try? table.registry.task(t) {
                s += "\n  \(tp.kind.rawValue), \(tp.channels) channel\(tp.channels == 1 ? "" : "s"); metrics " + tp.metricInfo.map { "\($0.name) (\($0.higherIsBetter ? "higher" : "lower") is better)" }.joined(separator: ", ")
            }
            return s
        }
        if let v = variables[t] { return "\(t) = \(v.summary)" + (v.memberNames.isEmpty ? "" : "\n  members: " + v.memberNames.joined(separator: ", ")) }
        let names = table.names + table.registry.listing().map(\.name) + variableOrder
        throw ScriptError(.name, "no help for '\(t)'\(didYouMean(t, in: names))")
    }

    /// `:plugins` and `plugins()`: one line per registration.
    public func pluginsText() -> String {
        let l = table.registry.listing()
        if l.isEmpty { return "no plugins registered" }
        let kw = max(8, l.map(\.kind.count).max() ?? 0), nw = max(8, l.map(\.name.count).max() ?? 0)
        return l.map { "\($0.kind.padding(toLength: kw, withPad: " ", startingAt: 0))  \($0.name.padding(toLength: nw, withPad: " ", startingAt: 0))  \($0.summary) [\($0.source)]" }
            .joined(separator: "\n")
    }
}

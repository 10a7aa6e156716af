// The built-in dataset plugins, and the argument checks they share.
import SquadPluginAPI
import SquadData

func builtinDatasets() -> [DatasetPlugin] {
    [ScenesPlugin(), FashionPlugin(), MultiFashionPlugin(), FolderPlugin()]
}

extension PluginArguments {
    /// An integer within `range`, the error naming the parameter.
    func int(_ name: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        let v = try int(name, default: d)
        guard range.contains(v) else { throw PluginError.badArgument(owner: owner, parameter: name, message: "must be within \(range.lowerBound)...\(range.upperBound), got \(v)") }
        return v
    }
    /// A seed: an integer ≥ 0.
    func seed(default d: Int = 0) throws -> UInt64 { UInt64(try int("seed", default: d, in: 0...Int(Int32.max))) }
    /// A task list, each one of `known`, none twice.
    func tasks(default d: [String], known: [String]) throws -> [String] {
        let t = try strings("tasks", default: d)
        guard !t.isEmpty else { throw PluginError.badArgument(owner: owner, parameter: "tasks", message: "must name at least one of \(known.joined(separator: ", "))") }
        for x in t where !known.contains(x) {
            let near = known.min { editDistance($0, x) < editDistance($1, x) } ?? ""
            let hint = editDistance(near, x) <= max(2, x.count / 3) ? " (did you mean '\(near)'?)" : ""
            throw PluginError.badArgument(owner: owner, parameter: "tasks", message: "has unknown task '\(x)'\(hint); known: \(known.joined(separator: ", "))")
        }
        guard Set(t).count == t.count else { throw PluginError.badArgument(owner: owner, parameter: "tasks", message: "lists a task twice: \(t)") }
        return t
    }
}

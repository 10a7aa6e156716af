// The built-in plugins, registered through the same API an outside plugin uses.
// Each list lives in its own file: tasks (TaskList.swift), datasets
// (DatasetList.swift), routing: gatings and aux losses (RoutingList.swift).
import SquadPluginAPI

public enum BuiltinPlugins {
    /// Registers every built-in plugin into `registry` (once per registry).
    public static func register(into registry: PluginRegistry = .shared) throws {
        let old = registry.currentSource
        registry.currentSource = "built-in"
        defer { registry.currentSource = old }
        for t in builtinTasks() { try registry.register(task: t) }
        for d in builtinDatasets() { try registry.register(dataset: d) }
        for g in builtinGatings() { try registry.register(gating: g) }
        for a in builtinAuxLosses() { try registry.register(auxLoss: a) }
    }
}

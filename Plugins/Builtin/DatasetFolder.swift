// The `folder` dataset plugin: a user folder with manifest.csv; its columns become tasks (a registered task of the same name, or a new one).
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadData

public final class FolderPlugin: DatasetPlugin {
    public let name = "folder"
    public let summary = "your data: a folder with manifest.csv (image PNG, then name:kind columns; kinds class, value, dense, rgb, normal, segment; see docs/data.md)"
    public let parameters = [
        ParameterInfo("path", "string", "the folder holding manifest.csv (or the .csv file itself)"),
        ParameterInfo("test", "number", default: "0.2", "share of rows held out for testing when there is no split column", range: 0...1),
        ParameterInfo("seed", "int", default: "0", "seed of that split"),
    ]
    /// Where the folder's own tasks are registered.
    let registry: PluginRegistry

    public init(registry: PluginRegistry = .shared) { self.registry = registry }

    public func make(_ args: PluginArguments) throws -> MultiTaskDataset {
        try args.checkKnown(parameters.map(\.name))
        let test = try args.double("test", default: 0.2)
        guard test >= 0 && test <= 1 else { throw PluginError.badArgument(owner: name, parameter: "test", message: "must be a fraction within 0...1, got \(test)") }
        let ds = try FolderDataset(path: args.string("path"), test: test, seed: args.seed())
        try FolderPlugin.registerTasks(of: ds, in: registry)
        return ds
    }

    /// The task plugin a column needs, when no task of its name is registered.
    public static func task(for c: FolderColumn) -> TaskPlugin {
        switch c.kind {
        case .class: return ClassificationTask(name: c.name, classes: c.size)
        case .value: return RegressionTask(name: c.name, outputs: c.size)
        case .segment: return SegmentationTask(name: c.name, classes: c.size)
        case .normal: return NormalsTask(name: c.name)
        case .rgb: return ReconstructionTask(name: c.name, channels: 3)
        case .dense: return DenseValueTask(name: c.name, channels: c.size)
        }
    }

    /// Each column uses the registered task of its name when that one fits (kind, and channels, or enough
    /// classes); otherwise a new task is registered for it. A registered task that does not fit is an error.
    public static func registerTasks(of ds: FolderDataset, in registry: PluginRegistry) throws {
        for c in ds.columns {
            let wanted = task(for: c)
            if let have = try? registry.task(c.name) {
                let classes = c.kind == .class || c.kind == .segment
                let fits = have.kind == wanted.kind && (classes ? have.channels >= c.size : have.channels == c.size)
                guard fits else {
                    throw DataError.file(path: ds.manifest.path, row: 1, message: "column '\(c.name):\(c.kind.rawValue)' needs a \(wanted.kind.rawValue) task with \(c.size) \(classes ? "classes" : "channels"), but the registered task '\(c.name)' is \(have.kind.rawValue) with \(have.channels); rename the column")
                }
                continue
            }
            let old = registry.currentSource
            registry.currentSource = "folder \(ds.folder.path)"
            defer { registry.currentSource = old }
            try registry.register(task: wanted)
        }
    }
}

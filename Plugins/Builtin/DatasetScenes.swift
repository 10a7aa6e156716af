// The `scenes` dataset plugin: procedural multi-task scenes, cached on disk by their parameters.
import SquadPluginAPI
import SquadData

final class ScenesPlugin: DatasetPlugin {
    let name = "scenes"
    let summary = "procedural scenes (shapes on a floor, lit, textured) with segmentation, depth, normals, edges, keypoints, reshading, albedo, count, shape"
    let parameters = [
        ParameterInfo("size", "int", default: "32", "image side in pixels (32 to 128 intended; 16 to 256 accepted)", range: 16...256),
        ParameterInfo("train", "int", default: "4000", "training samples", range: 0...10_000_000),
        ParameterInfo("test", "int", default: "800", "test samples", range: 0...10_000_000),
        ParameterInfo("tasks", "list", default: "[\"segment\", \"depth\", \"normal\", \"edge\", \"count\"]",
                      "any of " + ScenesDataset.allTasks.joined(separator: ", ")),
        ParameterInfo("seed", "int", default: "0", "the same seed gives the same scenes"),
        ParameterInfo("min_objects", "int", default: "2", "fewest objects per scene", range: 1...12),
        ParameterInfo("max_objects", "int", default: "5", "most objects per scene", range: 1...12),
        ParameterInfo("cache", "bool", default: "true", "keep rendered samples under $MSQ_CACHE or ~/.cache/modsquad"),
    ]

    func make(_ args: PluginArguments) throws -> MultiTaskDataset {
        try args.checkKnown(parameters.map(\.name))
        let lo = try args.int("min_objects", default: 2, in: 1...12)
        let hi = try args.int("max_objects", default: 5, in: 1...12)
        guard hi >= lo else { throw PluginError.badArgument(owner: name, parameter: "max_objects", message: "must be at least min_objects (\(lo)), got \(hi)") }
        return try ScenesDataset(size: args.int("size", default: 32, in: 16...256),
                                 train: args.int("train", default: 4000, in: 0...10_000_000),
                                 test: args.int("test", default: 800, in: 0...10_000_000),
                                 tasks: args.tasks(default: ScenesDataset.defaultTasks, known: ScenesDataset.allTasks),
                                 seed: args.seed(), objects: lo...hi, cache: args.bool("cache", default: true))
    }
}

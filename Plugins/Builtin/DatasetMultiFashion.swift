// The `multifashion` dataset plugin: two Fashion-MNIST items side by side (left class, right class, which-item segmentation).
import SquadPluginAPI
import SquadData

final class MultiFashionPlugin: DatasetPlugin {
    let name = "multifashion"
    let summary = "MultiFashion (Sener & Koltun 2018 style): two overlapping items; left class, right class, which item per pixel"
    let parameters = [
        ParameterInfo("train", "int", default: "60000", "training samples (pairs are drawn from the 60000 training items)", range: 0...10_000_000),
        ParameterInfo("test", "int", default: "10000", "test samples (pairs of the 10000 test items)", range: 0...10_000_000),
        ParameterInfo("tasks", "list", default: "[\"left\", \"right\", \"which\"]", "any of left, right, which"),
        ParameterInfo("size", "int", default: "32", "image side, 28 to 36 (a centre crop of the 36×36 canvas)", range: 28...36),
        ParameterInfo("seed", "int", default: "0", "seed of the pairing and placement"),
        ParameterInfo("path", "string", default: "\"\(FashionMNIST.defaultFolder)\"", "folder with the *-ubyte.gz IDX files"),
    ]

    func make(_ args: PluginArguments) throws -> MultiTaskDataset {
        try args.checkKnown(parameters.map(\.name))
        return try MultiFashionDataset(folder: args.string("path", default: FashionMNIST.defaultFolder),
                                       train: args.int("train", default: 60000, in: 0...10_000_000), test: args.int("test", default: 10000, in: 0...10_000_000),
                                       tasks: args.tasks(default: MultiFashionDataset.allTasks, known: MultiFashionDataset.allTasks),
                                       size: args.int("size", default: 32, in: 28...36), seed: args.seed())
    }
}

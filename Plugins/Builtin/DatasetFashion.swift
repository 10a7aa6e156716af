// The `fashion` dataset plugin: Fashion-MNIST as a multi-task set (class, coarse group, reconstruction/denoising, mask, edges).
import SquadPluginAPI
import SquadData

final class FashionPlugin: DatasetPlugin {
    let name = "fashion"
    let summary = "Fashion-MNIST (Debian dataset-fashion-mnist): class, coarse group, reconstruction/denoising, foreground mask, edges"
    let parameters = [
        ParameterInfo("train", "int", default: "60000", "training samples (at most 60000)", range: 0...60000),
        ParameterInfo("test", "int", default: "10000", "test samples (at most 10000)", range: 0...10000),
        ParameterInfo("tasks", "list", default: "[\"class\", \"group\", \"reconstruct\", \"mask\"]", "any of " + FashionDataset.allTasks.joined(separator: ", ")),
        ParameterInfo("size", "int", default: "28", "image side: 28, or up to 64 zero-padded", range: 28...64),
        ParameterInfo("noise", "number", default: "0", "std of Gaussian noise on the input; reconstruct then means denoising", range: 0...10),
        ParameterInfo("seed", "int", default: "0", "seed of the input noise"),
        ParameterInfo("path", "string", default: "\"\(FashionMNIST.defaultFolder)\"", "folder with the *-ubyte.gz IDX files"),
    ]

    func make(_ args: PluginArguments) throws -> MultiTaskDataset {
        try args.checkKnown(parameters.map(\.name))
        let noise = try args.double("noise", default: 0)
        guard noise >= 0 && noise <= 1 else { throw PluginError.badArgument(owner: name, parameter: "noise", message: "must be within 0...1, got \(noise)") }
        return try FashionDataset(folder: args.string("path", default: FashionMNIST.defaultFolder),
                                  train: args.int("train", default: 60000, in: 0...60000), test: args.int("test", default: 10000, in: 0...10000),
                                  tasks: args.tasks(default: FashionDataset.defaultTasks, known: FashionDataset.allTasks),
                                  size: args.int("size", default: 28, in: 28...64), noise: noise, seed: args.seed())
    }
}

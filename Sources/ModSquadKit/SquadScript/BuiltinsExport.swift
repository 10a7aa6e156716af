// save_batches: the exact training batches a model's `train` would draw, written as .npy with the
// split's normalised images and targets, so another framework (the PyTorch parity harness) can train
// the same model on the same data in the same order.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadData
import SquadPluginAPI

func exportBuiltins() -> [Builtin] {
    [
        Builtin("save_batches", [
            ParamSpec("model", .object("model"), nil, "the model whose training stream (seed, tasks) to follow"),
            ParamSpec("data", .object("dataset"), nil, "a dataset"),
            ParamSpec("path", .string, nil, "a folder; written: train_images.npy, train_<task>.npy, order.npy, meta.json (and test_* with test: true)"),
            ParamSpec("steps", .int, .number(100), "training steps whose batches to record"),
            ParamSpec("batch", .int, .number(32), "batch size, as given to train"),
            ParamSpec("test", .bool, .bool(false), "also write the test split (images and targets)"),
        ], doc: "Writes the batches train(m, data, steps:, batch:, augment: false) would use on a fresh stream: the train split's images (normalised as training sees them) and targets as .npy, order.npy [steps, batch] of sample indices, and meta.json (tasks, normalisation).",
        category: "data") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            try m.checkTasks(data)
            let steps = try ctx.count("steps", 100), batch = try ctx.count("batch", 32)
            let dir = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let ds = data.dataset
            let n = ds.count(.train)
            guard n > 0 else { throw ctx.error("data", "dataset \(ds.name) has no train samples") }
            // A fresh copy of the stream `train` makes (the model's seed, shuffled, last partial batch dropped).
            let loader = try BatchStream(data, split: .train, batchSize: batch, shuffle: true, seed: m.model.config.seed).loader
            let per = loader.batchesPerEpoch
            var order: [Float] = []
            for s in 0..<steps { order += loader.indices(epoch: s / per, position: s % per).map(Float.init) }
            try NPY.write(try Tensor(order, shape: [steps, loader.batchSize]), to: dir.appendingPathComponent("order.npy"))
            let stats = try data.normalization()
            let tasks = m.model.config.tasks.filter { $0.plugin == nil || ds.taskNames.contains($0.name) }
            let registry = ctx.interpreter.table.registry
            // The loss each task trains with: the spec's kind, what a plugin says its loss is, or the plugin's own.
            func lossName(_ t: TaskSpec) -> String { m.lossKind(t, registry: registry)?.rawValue ?? "plugin:" + (t.plugin ?? t.name) }
            var splits: [(String, DataSplit)] = [("train", .train)]
            if try ctx.bool("test", false) && ds.count(.test) > 0 { splits.append(("test", .test)) }
            for (label, split) in splits {
                let (x, y) = try ds.batch(split, Array(0..<ds.count(split)))
                try NPY.write(try DataLoader.normalized(x, stats), to: dir.appendingPathComponent("\(label)_images.npy"))
                for t in tasks {
                    guard let target = y[t.name] else { continue }
                    let url = dir.appendingPathComponent("\(label)_\(t.name).npy")
                    switch target {
                    case .values(let v): try NPY.write(v, to: url)
                    case .labels(let l): try NPY.write(try Tensor(l.map(Float.init), shape: [l.count]), to: url)
                    }
                }
            }
            let meta: [String: Any] = [
                "dataset": ds.name, "steps": steps, "batch": loader.batchSize, "seed": Int(m.model.config.seed),
                "train": n, "test": splits.count > 1 ? ds.count(.test) : 0,
                "mean": stats.mean.map(Double.init), "std": stats.std.map(Double.init),
                "tasks": tasks.map { ["name": $0.name, "kind": $0.kind.rawValue, "channels": $0.channels, "loss": lossName($0)] },
            ]
            let json = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
            try json.write(to: dir.appendingPathComponent("meta.json"), options: .atomic)
            ctx.output.write("saved \(steps) batches of \(loader.batchSize) (\(n) train samples, \(tasks.count) tasks) to \(dir.path)\n")
            return .none
        },
    ]
}

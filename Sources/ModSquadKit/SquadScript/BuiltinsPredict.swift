// Data out and pictures in: predict and route (a model's outputs and routing decisions as tensors), image/images
// (a user's PNGs), save_npy/save_npz (for numpy and PyTorch), format (numbers at full precision).
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData

/// A tensor as a language value: predictions, routing, images.
public final class TensorValue: ScriptObject {
    public let tensor: Tensor
    public let title: String
    public init(_ tensor: Tensor, title: String = "") { self.tensor = tensor; self.title = title }
    public var typeName: String { "tensor" }
    public var summary: String {
        let v = tensor.array
        let lo = v.min() ?? 0, hi = v.max() ?? 0, mean = v.isEmpty ? 0 : v.reduce(0, +) / Float(v.count)
        return (title.isEmpty ? "" : title + ": ") + "tensor \(tensor.shape), min \(formatNumber(Double(lo))), max \(formatNumber(Double(hi))), mean \(formatNumber(Double(mean)))"
    }
    public var memberNames: [String] { ["shape", "size", "min", "max", "mean", "values"] }
    public func member(_ name: String) throws -> Value? {
        let v = tensor.array
        switch name {
        case "shape": return .list(tensor.shape.map { .number(Double($0)) })
        case "size": return .number(Double(tensor.count))
        case "min": return .number(Double(v.min() ?? 0))
        case "max": return .number(Double(v.max() ?? 0))
        case "mean": return .number(v.isEmpty ? 0 : Double(v.reduce(0, +)) / Double(v.count))
        case "values":
            guard v.count <= 1_000_000 else { throw ScriptError(.value, "a tensor of \(v.count) values is too large for a list; save_npy it instead") }
            return .list(v.map { .number(Double($0)) })
        default: return nil
        }
    }
}

extension ModelValue {
    /// The input normalisation the model was trained with: restored from its checkpoint, else its training stream's.
    var inputNormalization: (mean: [Float], std: [Float])? {
        storedNormalization ?? streams.first(where: { $0.key.contains("/train/") })?.value.loader.normalization
    }
}

func predictBuiltins() -> [Builtin] {
    let inputParam = ParamSpec("input", .oneOf([.object("dataset"), .object("tensor")]), nil,
                               "a dataset (its split, normalised as in training) or images from image()/images() (values in [0, 1])")
    let taskParam = ParamSpec("task", .string, Value.none, "the task (default: the model's only task)")
    let splitParam = ParamSpec("split", .choice(["test", "train"]), .string("test"), "with a dataset: which split")
    let nParam = ParamSpec("n", .int, Value.none, "with a dataset: the first n samples (default all)")
    let normParam = ParamSpec("normalize", .bool, .bool(true),
                              "normalise images per channel with the statistics the model was trained with (false: feed them as they are)")
    return [
        Builtin("predict", [ParamSpec("model", .object("model"), nil, "the model"), inputParam, taskParam, splitParam, nParam, normParam,
                            ParamSpec("batch", .int, .number(64), "images per forward")],
                doc: "The model's raw outputs for one task as a tensor: [n, C, H, W] for dense tasks, [n, K] for global ones (logits for classes).",
                category: "data") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let task = try chosenTask(ctx, m)
            let x = try inputImages(ctx, m)
            let batch = try ctx.count("batch", 64)
            var outs: [Tensor] = []
            m.model.eval()
            defer { m.model.train() }
            for chunk in chunks(x.shape[0], batch) {
                let xs = try x.gatherRows(Array(chunk))
                let out = try Autograd.noGrad { try m.model(xs, tasks: [task]) }
                guard let p = out.predictions[task] else { throw ScriptError(.runtime, "predict: the model gave no output for '\(task)'") }
                outs.append(p)
            }
            return .object(TensorValue(try Tensor.concat(outs, axis: 0), title: "predict \(task)"))
        },
        Builtin("route", [ParamSpec("model", .object("model"), nil, "a squad"), inputParam, taskParam, splitParam,
                          ParamSpec("n", .int, .number(16), "with a dataset: the first n samples"), normParam],
                doc: "Per MoE layer and token, the task's router probabilities [n, tokens, E], chosen experts [n, tokens, k] and gates [n, tokens, k].",
                category: "data") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let task = try chosenTask(ctx, m)
            guard m.model.config.hasExperts else { throw ctx.error("model", "has no MoE layers: nothing is routed") }
            let x = try inputImages(ctx, m, defaultN: 16)
            m.model.eval()
            defer { m.model.train() }
            let out = try Autograd.noGrad { try m.model(x, tasks: [task]) }
            let b = x.shape[0]
            let all = Record("routing", title: "route \(task)")
            for rec in out.records {
                let rows = rec.probs.shape[0], e = rec.experts, k = rec.topK, tokens = rows / max(b, 1)
                let probs = Tensor(uninitialized: [b, tokens, e])
                for i in 0..<(rows * e) { probs.data[i] = max(0, rec.probs.data[i] - 1e-4) }   // the record adds 1e-4 for the MI loss's logs
                let chosen = Tensor(uninitialized: [b, tokens, k]), gates = Tensor(uninitialized: [b, tokens, k])
                let renorm = m.model.config.gate.renormalize
                for r in 0..<rows {
                    var sum: Float = 0
                    for j in 0..<k { let c = rec.routerChoices[r * k + j]; chosen.data[r * k + j] = Float(c); gates.data[r * k + j] = c >= 0 ? probs.data[r * e + c] : 0; sum += gates.data[r * k + j] }
                    if renorm && sum > 0 { for j in 0..<k { gates.data[r * k + j] /= sum } }
                }
                let layer = Record("layer", title: rec.layer)
                layer.set("probs", .object(TensorValue(probs, title: "\(rec.layer) probs")))
                layer.set("experts", .object(TensorValue(chosen, title: "\(rec.layer) experts")))
                if m.model.config.gate.strategy == "topk" { layer.set("gates", .object(TensorValue(gates, title: "\(rec.layer) gates"))) }
                all.set(rec.layer, .object(layer))
            }
            all.customSummary = "route \(task): \(out.records.count) MoE layers, \(b) images (members: " + out.records.map(\.layer).joined(separator: ", ") + ")"
            return .object(all)
        },
        Builtin("image", [ParamSpec("path", .string, nil, "a PNG file")],
                doc: "A PNG as images [1, 3, H, W] in [0, 1], for predict and route.", category: "data") { ctx in
            let url = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            let t = try PNG.read(url)
            return .object(TensorValue(try t.reshaped([1] + t.shape), title: url.lastPathComponent))
        },
        Builtin("images", [ParamSpec("path", .string, nil, "a folder of PNG files (read in name order; all the same size)")],
                doc: "Every PNG of a folder as images [N, 3, H, W] in [0, 1], for predict and route.", category: "data") { ctx in
            let dir = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.lowercased().hasSuffix(".png") && !$0.hasPrefix(".") }.sorted() }
            catch { throw ctx.error("path", "is not a readable folder: \(dir.path)") }
            guard !names.isEmpty else { throw ctx.error("path", "holds no .png files: \(dir.path)") }
            var ts: [Tensor] = []
            for n in names {
                let t = try PNG.read(dir.appendingPathComponent(n))
                if let first = ts.first, first.shape != t.shape {
                    throw ctx.error("path", "\(n) is \(t.shape[2])×\(t.shape[1]), but \(names[0]) is \(first.shape[2])×\(first.shape[1]): images must share one size")
                }
                ts.append(t)
            }
            return .object(TensorValue(try Tensor.concat(ts.map { try $0.reshaped([1] + $0.shape) }, axis: 0), title: "\(names.count) images from \(dir.lastPathComponent)"))
        },
        Builtin("save_npy", [ParamSpec("value", .oneOf([.object("tensor"), .number, .list]), nil, "a tensor (or a number or list of numbers, stored as float32)",
                                       range: ValueRange(-3.4e38, 3.4e38)),
                             ParamSpec("path", .string, nil, "a .npy file")],
                doc: "Writes a tensor as a NumPy .npy file (float32), for numpy.load or torch.from_numpy.", category: "data") { ctx in
            let t = try tensorArgument(ctx, "value")
            let url = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try NPY.write(t, to: url)
            ctx.output.write("saved \(url.lastPathComponent): \(t.shape)\n")
            return .none
        },
        Builtin("save_npz", [ParamSpec("value", .oneOf([.object("routing"), .object("layer"), .list]), nil, "route()'s result (every tensor, named layer/what) or a list of tensors (arr_0, arr_1, …)"),
                             ParamSpec("path", .string, nil, "a .npz file")],
                doc: "Writes several tensors as one NumPy .npz archive (numpy.load gives a dict).", category: "data") { ctx in
            var arrays: [(String, Tensor)] = []
            func collect(_ v: Value, _ prefix: String) throws {
                switch v {
                case .object(let t as TensorValue): arrays.append((prefix, t.tensor))
                case .object(let r as Record): for (k, f) in r.fields { try collect(f, prefix.isEmpty ? k : prefix + "/" + k) }
                case .list(let l): for (i, x) in l.enumerated() { try collect(x, prefix.isEmpty ? "arr_\(i)" : prefix + "/\(i)") }
                case .number(let d): arrays.append((prefix, Tensor([Float(d)])))
                default: throw ctx.error("value", "holds \(v.typeDescription), not a tensor")
                }
            }
            try collect(ctx.value("value") ?? .none, "")
            let url = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try NPZ.write(arrays, to: url)
            ctx.output.write("saved \(url.lastPathComponent): \(arrays.count) arrays\n")
            return .none
        },
        Builtin("format", [ParamSpec("value", .any, nil, "a number, a list of numbers or a tensor"),
                           ParamSpec("digits", .int, .number(6), "significant digits", range: ValueRange(1, 17))],
                doc: "Numbers as text with this many significant digits (9 shows a float32 exactly).", category: "misc") { ctx in
            let digits = try ctx.int("digits", 6)
            func fmt(_ d: Double) -> String { String(format: "%.\(digits)g", d) }
            switch ctx.value("value") {
            case .some(.number(let d)): return .string(fmt(d))
            case .some(.list(let l)):
                return .string("[" + (try l.map { v -> String in
                    guard case .number(let d) = v else { throw ctx.error("value", "holds \(v.typeDescription), not a number") }
                    return fmt(d) }).joined(separator: ", ") + "]")
            case .some(.object(let t as TensorValue)):
                guard t.tensor.count <= 100_000 else { throw ctx.error("value", "has \(t.tensor.count) values; save_npy it instead") }
                return .string("tensor \(t.tensor.shape) [" + t.tensor.array.map { fmt(Double($0)) }.joined(separator: ", ") + "]")
            case let v: throw ctx.error("value", "expects a number, a list of numbers or a tensor, got \(v?.typeDescription ?? "none")")
            }
        },
    ]
}

/// The task argument, or the model's only task.
private func chosenTask(_ ctx: CallContext, _ m: ModelValue) throws -> String {
    if let t = try ctx.string("task") {
        guard m.model.tasks.contains(t) else { throw ctx.error("task", "names no task of the model: '\(t)'\(didYouMean(t, in: m.model.tasks))", hint: "tasks: \(m.model.tasks.joined(separator: ", "))") }
        return t
    }
    guard m.model.tasks.count == 1 else { throw ctx.error("task", "is needed: the model has tasks \(m.model.tasks.joined(separator: ", "))") }
    return m.model.tasks[0]
}

/// The model's input [n, C, S, S]: a dataset's split (normalised as its streams are), or images in [0, 1]
/// checked against the model's size and channels and normalised with the model's training statistics.
private func inputImages(_ ctx: CallContext, _ m: ModelValue, defaultN: Int? = nil) throws -> Tensor {
    let normalize = try ctx.bool("normalize", true)
    let cfg = m.model.config
    switch ctx.value("input") {
    case .some(.object(let d as DatasetValue)):
        let split: DataSplit = try ctx.string("split", "test") == "train" ? .train : .test
        let total = d.dataset.count(split)
        let n = min(try ctx.int("n") ?? defaultN ?? total, total)
        guard n >= 1 else { throw ctx.error("input", "has no \(split.rawValue) samples") }
        let loader = DataLoader(d.dataset, split: split, batchSize: n, shuffle: false, augment: false, dropLast: false)
        loader.normalize = normalize
        if normalize { loader.normalization = try d.normalization() }
        return try loader.next().images
    case .some(.object(let t as TensorValue)):
        var x = t.tensor
        guard x.ndim == 4 else { throw ctx.error("input", "expects images [n, C, H, W], got a tensor \(x.shape)") }
        guard x.shape[2] == cfg.image, x.shape[3] == cfg.image else {
            throw ctx.error("input", "images are \(x.shape[3])×\(x.shape[2]), the model takes \(cfg.image)×\(cfg.image)")
        }
        if x.shape[1] != cfg.channels { x = try convertChannels(x, to: cfg.channels, ctx) }
        guard normalize else { return x }
        guard let stats = m.inputNormalization, stats.mean.count == cfg.channels else {
            throw ctx.error("normalize", "the model has no stored input statistics (train it first, or load a checkpoint saved by msq after training)",
                            hint: "normalize: false feeds the images as they are")
        }
        return try DataLoader.normalized(x, stats)
    default:
        throw ctx.error("input", "expects a dataset or images")
    }
}

/// RGB to grey (channel mean) or grey to RGB (repeated), for a model of the other kind.
private func convertChannels(_ x: Tensor, to c: Int, _ ctx: CallContext) throws -> Tensor {
    let b = x.shape[0], have = x.shape[1], hw = x.shape[2] * x.shape[3]
    let out = Tensor(uninitialized: [b, c, x.shape[2], x.shape[3]])
    switch (have, c) {
    case (3, 1): for i in 0..<b { for p in 0..<hw { out.data[i * hw + p] = (0..<3).reduce(Float(0)) { $0 + x.data[(i * 3 + $1) * hw + p] } / 3 } }
    case (1, 3): for i in 0..<b { for ch in 0..<3 { for p in 0..<hw { out.data[(i * 3 + ch) * hw + p] = x.data[i * hw + p] } } }
    default: throw ctx.error("input", "images have \(have) channels, the model takes \(c)")
    }
    return out
}

/// `tensor`, number or list of numbers as a tensor.
private func tensorArgument(_ ctx: CallContext, _ name: String) throws -> Tensor {
    switch ctx.value(name) {
    case .some(.object(let t as TensorValue)): return t.tensor
    case .some(.number(let d)): return Tensor([Float(d)])
    case .some(.list(let l)):
        return Tensor(try l.map { v -> Float in
            guard case .number(let d) = v else { throw ctx.error(name, "holds \(v.typeDescription), not a number") }
            return Float(d) })
    default: throw ctx.error(name, "expects a tensor or numbers")
    }
}

/// Row ranges of `n` in pieces of at most `size`.
private func chunks(_ n: Int, _ size: Int) -> [Range<Int>] {
    stride(from: 0, to: n, by: size).map { $0..<min(n, $0 + size) }
}


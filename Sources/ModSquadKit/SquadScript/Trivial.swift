// trivial(m, data): each task's metrics for the best constant prediction (majority class, per-channel
// median for L1 tasks, mean otherwise), fitted on training targets and scored like a model: the floor a
// trained model must clear, shown beside eval in reports.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// The constant a task's loss prefers: a class, or one value per channel.
enum TrivialConstant {
    case label(Int, classes: Int)
    case values([Float])
}

extension ModelValue {
    /// The loss kind a task trains with (a built-in plugin's, or the spec's own); nil for a plugin's own loss.
    func lossKind(_ spec: TaskSpec, registry: PluginRegistry) -> TaskLoss? {
        guard let p = spec.plugin else { return spec.loss }
        return ((try? registry.task(p)) as? StandardLossTask)?.standardLoss
    }

    /// Fits each task's constant on up to `fit` training samples.
    func trivialConstants(_ data: DatasetValue, fit: Int, registry: PluginRegistry) throws -> [String: TrivialConstant] {
        try checkTasks(data)
        let s = try BatchStream(data, split: data.dataset.count(.train) > 0 ? .train : .test, batchSize: 64, shuffle: false, seed: 0)
        var hist: [String: [Int]] = [:], vals: [String: [[Float]]] = [:]
        var seen = 0
        for _ in 0..<s.batchesPerEpoch where seen < fit {
            let (x, y0) = try s.next()
            let y = try completeTargets(x, y0, data: data, registry: registry)
            seen += x.shape[0]
            for spec in model.config.tasks {
                switch y[spec.name] {
                case .labels(let l)?:
                    var h = hist[spec.name] ?? [Int](repeating: 0, count: spec.channels)
                    for c in l where c >= 0 && c < h.count { h[c] += 1 }
                    hist[spec.name] = h
                case .values(let v)?:
                    let b = v.shape[0], c = v.ndim > 1 ? v.shape[1] : 1, per = v.count / max(b * c, 1)
                    var acc = vals[spec.name] ?? [[Float]](repeating: [], count: c)
                    for i in 0..<b { for ch in 0..<c { acc[ch] += UnsafeBufferPointer(start: v.data + (i * c + ch) * per, count: per) } }
                    vals[spec.name] = acc
                case nil: continue
                }
            }
        }
        var out: [String: TrivialConstant] = [:]
        for spec in model.config.tasks {
            if let h = hist[spec.name] {
                out[spec.name] = .label(h.indices.max { h[$0] < h[$1] } ?? 0, classes: spec.channels)
            } else if let v = vals[spec.name] {
                // the median for L1 and for plugins' own losses (as robust a constant as any), else the mean
                let kind = lossKind(spec, registry: registry)
                let median = kind == .l1 || kind == nil
                out[spec.name] = .values(v.map { ch in
                    guard !ch.isEmpty else { return 0 }
                    if median { let s = ch.sorted(); return s[s.count / 2] }
                    return Float(ch.reduce(0.0) { $0 + Double($1) } / Double(ch.count))
                })
            }
        }
        return out
    }

    /// Scores the constants on a split with each task's own metrics.
    func trivialMetrics(_ data: DatasetValue, split: DataSplit, constants: [String: TrivialConstant], registry: PluginRegistry) throws
        -> (metrics: [String: [Metric]], samples: Int) {
        let s = try BatchStream(data, split: split, batchSize: 64, shuffle: false, seed: 0)
        var per: [String: [([Metric], Int)]] = [:], samples = 0
        let side = model.config.image
        for _ in 0..<s.batchesPerEpoch {
            let (x, y0) = try s.next()
            let y = try completeTargets(x, y0, data: data, registry: registry)
            let b = x.shape[0]
            samples += b
            for spec in model.config.tasks {
                guard let target = y[spec.name], let k = constants[spec.name] else { continue }
                let hw = spec.kind == .dense ? side * side : 1
                let c = spec.channels
                let pred = Tensor(zeros: spec.kind == .dense ? [b, c, side, side] : [b, c])
                switch k {
                case let .label(cls, _):
                    for i in 0..<b { for j in 0..<hw { pred.data[(i * c + cls) * hw + j] = 10 } }
                case .values(let v):
                    for i in 0..<b { for ch in 0..<c { for j in 0..<hw { pred.data[(i * c + ch) * hw + j] = ch < v.count ? v[ch] : 0 } } }
                }
                let ms = try spec.plugin.map { try PluginBoundary.metrics(registry.task($0), pred, target) } ?? Metrics.compute(spec, pred, target)
                per[spec.name, default: []].append((ms, b))
            }
        }
        return (per.mapValues { Metrics.average($0) }, samples)
    }
}

func trivialBuiltins() -> [Builtin] {
    [
        Builtin("trivial", [
            ParamSpec("model", .object("model"), nil, "a model (its tasks and output shapes)"),
            ParamSpec("data", .object("dataset"), nil, "a dataset"),
            ParamSpec("split", .choice(["test", "train"]), .string("test"), "which split to score"),
            ParamSpec("fit", .int, .number(1024), "training samples the constants are fitted on"),
        ], doc: "Each task's metrics for a constant prediction (majority class; per-channel median for L1 tasks and plugins' own losses, mean otherwise) fitted on training targets: the floor a trained model must clear.",
        category: "training") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            let split: DataSplit = try ctx.string("split", "test") == "train" ? .train : .test
            let reg = ctx.interpreter.table.registry
            let k = try m.trivialConstants(data, fit: try ctx.count("fit", 1024), registry: reg)
            let (metrics, n) = try m.trivialMetrics(data, split: split, constants: k, registry: reg)
            return .object(metricsRecord(metrics, order: m.model.tasks, title: "trivial \(split.rawValue) (\(n) images, constant predictions)"))
        },
    ]
}

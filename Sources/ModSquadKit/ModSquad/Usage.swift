// Expert usage statistics: per task and MoE layer, an EMA of how many tokens select
// each expert (f ← 0.95 f + 0.05·count, as the authors), read as percentages per
// task, and the entropies H(E|T), H(E) and their difference MI per layer.
import Foundation

public struct LayerEntropy: Equatable {
    public let layer: String
    public let conditional: Double   // H(E|T), nats
    public let marginal: Double      // H(E)
    public var mutualInformation: Double { marginal - conditional }
}

public final class UsageStats {
    public var momentum: Double = 0.95
    /// layer -> task -> EMA of selection counts per expert.
    public private(set) var ema: [String: [String: [Double]]] = [:]
    public private(set) var layers: [String] = []   // in model order

    public init() {}

    public func update(_ records: [RouterRecord]) {
        update(records, counts: records.map { $0.selectionCounts() })
    }

    /// Updates from given selection counts per record and segment (the global batch's, in a data-parallel step).
    public func update(_ records: [RouterRecord], counts all: [[[Int]]]) {
        for (rec, recCounts) in zip(records, all) {
            if ema[rec.layer] == nil { ema[rec.layer] = [:]; layers.append(rec.layer) }
            for (seg, counts) in zip(rec.segments, recCounts) {
                var f = ema[rec.layer]![seg.task] ?? [Double](repeating: 0, count: rec.experts)
                if f.count != counts.count { f = [Double](repeating: 0, count: counts.count) }
                for e in 0..<counts.count { f[e] = momentum * f[e] + (1 - momentum) * Double(counts[e]) }
                ema[rec.layer]![seg.task] = f
            }
        }
    }

    public func reset() { ema = [:]; layers = [] }

    public func tasks(in layer: String) -> [String] { (ema[layer] ?? [:]).keys.sorted() }

    /// u_t(e) = 100·f_t(e)/Σ_e f_t(e); nil when the task has no statistics in that layer.
    public func percentages(layer: String, task: String) -> [Double]? {
        guard let f = ema[layer]?[task] else { return nil }
        let s = f.reduce(0, +)
        return s > 0 ? f.map { 100 * $0 / s } : f.map { _ in 0 }
    }

    /// H(E|T), H(E) with P(t) uniform over the tasks seen in the layer.
    public func entropy(layer: String, tasks: [String]? = nil) -> LayerEntropy? {
        let ts = tasks ?? self.tasks(in: layer)
        let rows = ts.compactMap { percentages(layer: layer, task: $0)?.map { $0 / 100 } }
        guard let first = rows.first, !first.isEmpty else { return nil }
        func h(_ p: [Double]) -> Double { -p.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) } }
        let cond = rows.map(h).reduce(0, +) / Double(rows.count)
        var marg = [Double](repeating: 0, count: first.count)
        for r in rows { for e in 0..<r.count { marg[e] += r[e] / Double(rows.count) } }
        return LayerEntropy(layer: layer, conditional: cond, marginal: h(marg))
    }

    /// Restores from saved EMA rows (checkpoints).
    public func set(layer: String, task: String, ema row: [Double]) {
        if ema[layer] == nil { ema[layer] = [:]; layers.append(layer) }
        ema[layer]![task] = row
    }

    public func removeTask(_ task: String) { for l in layers { ema[l]?[task] = nil } }
}

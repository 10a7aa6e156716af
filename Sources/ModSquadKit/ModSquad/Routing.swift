// Routers and dispatch: one linear router (no bias) per task, or one shared;
// p = softmax over all experts (+1e-4, as the authors); top-k; gates raw or
// renormalised; optional noise in training. Dispatch groups (token, slot) pairs
// by expert (a stable counting sort), with an optional capacity that drops overflow.
import SquadTensor
import SquadNN

public enum RouterMode: String, Codable, Sendable {
    case perTask = "per_task"   // the paper: a router per task per layer
    case shared                 // one router for all tasks (task-conditioned through the task embedding)
}

public struct GateOptions: Codable, Equatable, Sendable {
    public var topK: Int
    public var renormalize = false        // authors: raw probabilities of the chosen experts
    public var noiseStd: Float = 0        // std of N(0,1)·σ added to logits, training only
    public var capacityFactor: Float = 0  // 0 = dropless
    public var mode: RouterMode = .perTask
    /// A gating strategy by name; "topk" is built in, others come from gating plugins.
    public var strategy: String = "topk"
    public init(topK: Int, renormalize: Bool = false, noiseStd: Float = 0, capacityFactor: Float = 0, mode: RouterMode = .perTask, strategy: String = "topk") {
        self.topK = topK; self.renormalize = renormalize; self.noiseStd = noiseStd; self.capacityFactor = capacityFactor; self.mode = mode
        self.strategy = strategy
    }
    enum CodingKeys: String, CodingKey { case topK, renormalize, noiseStd, capacityFactor, mode, strategy }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        topK = try c.decode(Int.self, forKey: .topK)
        renormalize = try c.decodeIfPresent(Bool.self, forKey: .renormalize) ?? false
        noiseStd = try c.decodeIfPresent(Float.self, forKey: .noiseStd) ?? 0
        capacityFactor = try c.decodeIfPresent(Float.self, forKey: .capacityFactor) ?? 0
        mode = try c.decodeIfPresent(RouterMode.self, forKey: .mode) ?? .perTask
        strategy = try c.decodeIfPresent(String.self, forKey: .strategy) ?? "topk"
    }
}

/// What a gating strategy sees: router logits and p = softmax + 1e-4 over all experts, both in the graph.
public struct GateInput {
    public let logits: Tensor, probs: Tensor
    public let topK: Int
    public let training: Bool
    public let segments: [TaskSegment]
}

/// A strategy's decision: k choices per row (−1 = no expert for that slot) and their gates [R·k] (in the graph).
public struct GateDecision {
    public let choices: [Int]
    public let gates: Tensor
    public init(choices: [Int], gates: Tensor) { self.choices = choices; self.gates = gates }
}

public typealias GatingFunction = (GateInput, inout RNG) throws -> GateDecision

/// Rows of the fused batch that belong to one task: rows [start, start + count).
public struct TaskSegment: Equatable {
    public let task: String
    public let start: Int, count: Int
    public init(task: String, start: Int, count: Int) { self.task = task; self.start = start; self.count = count }
}

/// One MoE layer's routing of a batch, kept for the aux losses and usage statistics.
public struct RouterRecord {
    public let layer: String
    public let experts: Int, topK: Int
    public let segments: [TaskSegment]
    /// p(e | x, t) + 1e-4 for every row [R, E] (in the graph).
    public let probs: Tensor
    /// Router logits [R, E] (in the graph, for the z-loss).
    public let logits: Tensor
    /// Chosen experts as dispatched, row-major [R·k]; −1 where the chosen expert was
    /// removed by extraction (that pair contributes nothing).
    public let choices: [Int]
    /// Chosen experts among all the router's columns (= choices unless extracted).
    public let routerChoices: [Int]
    /// Pairs dropped by the capacity limit.
    public let dropped: Int

    func withDropped(_ n: Int) -> RouterRecord {
        RouterRecord(layer: layer, experts: experts, topK: topK, segments: segments, probs: probs, logits: logits,
                     choices: choices, routerChoices: routerChoices, dropped: n)
    }

    /// Tokens of each task that selected each expert: counts[task][e].
    public func selectionCounts() -> [[Int]] {
        segments.map { s in
            var c = [Int](repeating: 0, count: experts)
            for r in s.start..<(s.start + s.count) { for j in 0..<topK { let e = choices[r * topK + j]; if e >= 0 { c[e] += 1 } } }
            return c
        }
    }
}

public final class Router: Module {
    /// experts = the router's width (columns); outputs = experts the layer still has.
    public let dim: Int, experts: Int
    /// After extraction: the kept columns, ascending; a pair choosing another column is dropped.
    /// The softmax still runs over all columns, so kept experts get exactly the full model's gates.
    public let kept: [Int]?
    public var outputs: Int { kept?.count ?? experts }
    public private(set) var tasks: [String]
    public private(set) var weights: [String: Tensor]   // task (or "shared") -> [D, E]
    public var options: GateOptions
    /// A plugin's strategy, used instead of the built-in top-k when set.
    public var gating: GatingFunction?
    static let sharedKey = "shared"

    public init(dim: Int, experts: Int, tasks: [String], options: GateOptions, kept: [Int]? = nil, rng: inout RNG) {
        self.dim = dim; self.experts = experts; self.options = options; self.kept = kept
        self.tasks = options.mode == .shared ? [Router.sharedKey] : tasks
        var w: [String: Tensor] = [:]
        for t in self.tasks { w[t] = Tensor.truncatedNormal([dim, experts], std: 0.02, rng: &rng, requiresGrad: true) }
        weights = w
    }

    public override var localParameters: [(String, Tensor)] { tasks.map { ($0 + ".weight", weights[$0]!) } }

    /// Adds a router for a new task (no-op for a shared router).
    public func addTask(_ name: String, rng: inout RNG) {
        guard options.mode == .perTask, weights[name] == nil else { return }
        tasks.append(name)
        weights[name] = Tensor.truncatedNormal([dim, experts], std: 0.02, rng: &rng, requiresGrad: true)
    }

    public func removeTask(_ name: String) {
        guard options.mode == .perTask else { return }
        tasks.removeAll { $0 == name }
        weights[name] = nil
    }

    /// `task`'s router alone, dispatching only to `kept` experts (its columns all stay).
    public func restricted(to task: String, kept: [Int]) throws -> Router {
        let key = options.mode == .shared ? Router.sharedKey : task
        guard let w = weights[key] else { throw TaskError.unknownTask(task, known: tasks) }
        var rng = RNG(seed: 0)
        let full = self.kept.map { k in kept.map { k[$0] } } ?? kept
        let r = Router(dim: dim, experts: experts, tasks: [task], options: options, kept: full, rng: &rng)
        try r.weights[r.tasks[0]]!.assign(w)
        return r
    }

    func weight(for task: String) throws -> Tensor {
        let key = options.mode == .shared ? Router.sharedKey : task
        guard let w = weights[key] else { throw TaskError.unknownTask(task, known: tasks) }
        return w
    }

    /// Routes rows x [R, D] of the given task segments. Returns the record and gates [R·k] (in the graph).
    public func route(_ x: Tensor, segments: [TaskSegment], layer: String, rng: inout RNG) throws -> (RouterRecord, Tensor) {
        let r = x.shape[0], k = options.topK
        guard k >= 1, k <= experts else { throw ModuleError.invalidConfig("\(layer): top-k \(k) must be in 1...\(experts)") }
        var logits: Tensor
        if segments.count == 1 {
            logits = try x.matmul(weight(for: segments[0].task))
        } else {
            let parts = try x.split(segments.map(\.count), axis: 0)
            logits = try Tensor.concat(zip(parts, segments).map { try $0.0.matmul(weight(for: $0.1.task)) }, axis: 0)
        }
        if training && options.noiseStd > 0 {
            let noise = Distributed.globalBatch ? Router.shardNoise(logits.shape, segments: segments, std: options.noiseStd, rng: &rng)
                : Tensor.normal(logits.shape, std: options.noiseStd, rng: &rng)
            logits = try logits.add(noise)
        }
        let probs = try logits.softmax() + 1e-4
        var routerChoices: [Int]
        var gates: Tensor
        if let custom = gating {
            let dec = try custom(GateInput(logits: logits, probs: probs, topK: k, training: training, segments: segments), &rng)
            guard dec.choices.count == r * k, dec.gates.count == r * k, dec.choices.allSatisfy({ $0 >= -1 && $0 < experts }) else {
                throw ModuleError.invalidConfig("\(layer): gating '\(options.strategy)' returned \(dec.choices.count) choices and \(dec.gates.count) gates for \(r) rows × k \(k), or an expert out of range")
            }
            routerChoices = dec.choices
            gates = try dec.gates.reshaped([r, k])
        } else {
            let (top, idx) = try probs.topk(k)
            routerChoices = idx
            gates = top
            if options.renormalize {
                let inv = try Tensor(repeating: 1, shape: [r]).div(top.sum(axis: 1))
                gates = try top.scaleRows(inv)
            }
        }
        var choices = routerChoices
        if let kept = kept {
            var slot = [Int](repeating: -1, count: experts)
            for (j, e) in kept.enumerated() { slot[e] = j }
            choices = routerChoices.map { $0 < 0 ? -1 : slot[$0] }
        }
        let record = RouterRecord(layer: layer, experts: outputs, topK: k, segments: segments, probs: probs,
                                  logits: logits, choices: choices, routerChoices: routerChoices, dropped: 0)
        return (record, try gates.reshaped([r * k]))
    }
}

extension Router {
    /// This rank's rows of the noise one process draws for the global batch (each segment's rows are the
    /// ranks' shards in rank order), so noisy gating does not depend on the number of ranks.
    static func shardNoise(_ shape: [Int], segments: [TaskSegment], std: Float, rng: inout RNG) -> Tensor {
        let n = Distributed.size, r = Distributed.rank, e = shape[1]
        let all = Tensor.normal([shape[0] * n, e], std: std, rng: &rng)
        let out = Tensor(zeros: shape)
        for s in segments { (out.data + s.start * e).update(from: all.data + (s.start * n + r * s.count) * e, count: s.count * e) }
        return out
    }
}

/// (token, slot) pairs grouped by expert: sorted position s holds pair order[s]
/// (= token·k + slot) of token[s]; inverse maps a pair back to its sorted position.
public struct Dispatch {
    public let order: [Int], token: [Int], inverse: [Int], sizes: [Int]
    public let dropped: Int

    /// Stable counting sort of `choices` [R·k]. With capacity > 0, each expert keeps
    /// its first `capacity` pairs and the rest are dropped (their rows get no output);
    /// a choice of −1 (an expert removed by extraction) is dropped too.
    public init(choices: [Int], topK k: Int, experts: Int, capacity: Int = 0) {
        var sizes = [Int](repeating: 0, count: experts)
        var dropped = 0
        for e in choices { if e >= 0 { sizes[e] += 1 } else { dropped += 1 } }
        if capacity > 0 { for e in 0..<experts where sizes[e] > capacity { dropped += sizes[e] - capacity; sizes[e] = capacity } }
        var next = [Int](repeating: 0, count: experts)
        for e in 1..<max(experts, 1) { next[e] = next[e - 1] + sizes[e - 1] }
        let kept = choices.count - dropped
        var order = [Int](repeating: 0, count: kept), inverse = [Int](repeating: -1, count: choices.count)
        var taken = [Int](repeating: 0, count: experts)
        for (p, e) in choices.enumerated() {
            if e < 0 || (capacity > 0 && taken[e] >= capacity) { continue }
            taken[e] += 1
            let s = next[e]; next[e] += 1
            order[s] = p; inverse[p] = s
        }
        self.order = order
        self.token = order.map { $0 / k }
        self.inverse = inverse
        self.sizes = sizes
        self.dropped = dropped
    }

    public static func capacity(factor: Float, pairs: Int, experts: Int) -> Int {
        factor <= 0 ? 0 : max(1, Int((factor * Float(pairs) / Float(experts)).rounded(.up)))
    }
}

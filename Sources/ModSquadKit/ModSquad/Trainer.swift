// The multi-task training step: one fused forward of every task on the same
// images, task losses combined by a weighting (equal, fixed, or the authors'
// uncertainty weighting), auxiliary router losses (MI, switch, z), one backward,
// AdamW with a warmup-cosine schedule, and usage statistics.
import Foundation
import SquadTensor
import SquadNN

public enum TaskWeighting: String, Codable, Sendable {
    case equal, fixed
    /// Σ 0.5/σ_t²·L_t + log(1 + σ_t²) with learnable σ_t (init 1), as the authors.
    case uncertainty
}

public struct TrainOptions: Codable, Equatable, Sendable {
    public var lr: Float = 1e-3
    public var minLR: Float = 1e-6
    public var warmupSteps = 0
    /// Steps of the cosine schedule (0 = constant lr after warmup).
    public var totalSteps = 0
    public var weightDecay: Float = 0.05
    public var adamEps: Float = 1e-8
    public var miWeight: Float = 0.005
    /// "authors" (spec §2, the default) or "reference" (P(t) = 1/T, as the PyTorch reference).
    public var miEstimator = "authors"
    public var switchWeight: Float = 0
    public var zWeight: Float = 0
    public var clipNorm: Float = 0
    /// Training stops after this many non-finite steps in a row.
    public var maxBadSteps = 5
    public var weighting: TaskWeighting = .equal
    public init() {}
}

public struct StepLog: CustomStringConvertible {
    public var step: Int
    public var total: Float
    public var taskLosses: [(String, Float)]
    public var aux: [(String, Float)]
    public var lr: Float
    public var dropped: Int
    /// Why the step was skipped by the non-finite guard (nil: it was applied).
    public var skipped: String? = nil
    public var description: String {
        var s = String(format: "step %d  loss %.4f", step, total)
        if let why = skipped { return "step \(step) skipped: \(why); weights unchanged" }
        for (t, v) in taskLosses { s += "  \(t) " + String(format: "%.4f", v) }
        for (t, v) in aux { s += "  \(t) " + String(format: "%.4g", v) }
        if dropped > 0 { s += "  dropped \(dropped)" }
        return s
    }
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case diverged(step: Int, count: Int, last: String)
    public var description: String {
        switch self {
        case let .diverged(step, count, last):
            return "training stopped at step \(step): \(count) steps in a row were non-finite (last: \(last)); the weights are those of the last good step"
        }
    }
}

public final class Trainer {
    public let model: SquadModel
    public var options: TrainOptions
    public private(set) var optimizer: AdamW
    /// σ per task for uncertainty weighting (saved as loss_weights.<task>).
    public private(set) var sigma: [String: Tensor] = [:]
    public private(set) var step = 0
    /// Steps skipped by the non-finite guard: in a row, and in all.
    public private(set) var skippedInARow = 0, skippedSteps = 0
    /// Task losses from plugins (by task spec); nil uses the spec's built-in loss kind.
    public var lossFunction: ((TaskSpec, Tensor, TaskTarget) throws -> Tensor)?
    /// Fills in targets the batch lacks from the images (self-supervised plugin tasks).
    public var deriveTargets: ((Tensor, [String: TaskTarget]) throws -> [String: TaskTarget])?
    /// Extra auxiliary losses from plugins: name, weight, loss of one layer's routing.
    public var extraAux: [(name: String, weight: Float, loss: (RouterRecord) throws -> Tensor)] = []

    /// An auxiliary loss of the routing: its name in logs, its weight, the fewest tasks it needs, one layer's value.
    public struct AuxTerm {
        public let name: String, weight: Float, minTasks: Int
        public let loss: (RouterRecord) throws -> Tensor
    }

    /// Every auxiliary term of a step in the order they are added: the built-in MI (two tasks or more), switch
    /// balance and z losses at the options' weights, then the plugins' at theirs.
    public var auxTerms: [AuxTerm] {
        let mi: (RouterRecord) throws -> Tensor = options.miEstimator == "reference" ? AuxLoss.mutualInformationUniformTasks : AuxLoss.mutualInformation
        return [AuxTerm(name: "mi", weight: options.miWeight, minTasks: 2, loss: mi),
                AuxTerm(name: "switch", weight: options.switchWeight, minTasks: 1, loss: AuxLoss.switchBalance),
                AuxTerm(name: "z", weight: options.zWeight, minTasks: 1, loss: AuxLoss.zLoss)]
            + extraAux.map { AuxTerm(name: $0.name, weight: $0.weight, minTasks: 1, loss: $0.loss) }
    }

    /// The tasks whose losses a step computes (nil: all). A router-only transfer trains only the new task:
    /// the others are frozen, so their forward passes would cost time and change nothing.
    public var trainTasks: [String]? = nil

    public init(_ model: SquadModel, options: TrainOptions = TrainOptions()) {
        self.model = model
        self.options = options
        optimizer = AdamW([], lr: options.lr)
        rebuildOptimizer()
    }

    /// Re-collects the trainable parameters (after attach, freeze or unfreeze); keeps moments of kept ones.
    public func rebuildOptimizer() {
        if options.weighting == .uncertainty {
            for t in model.tasks where sigma[t] == nil { sigma[t] = Tensor(repeating: 1, shape: [1], requiresGrad: true) }
        }
        var params = model.trainableParameters()
        for t in model.tasks { if let s = sigma[t] { params.append(NamedParameter(name: "loss_weights." + t, tensor: s, decays: true)) } }
        let old = optimizer.state()
        optimizer = AdamW(params, lr: options.lr, eps: options.adamEps, weightDecay: options.weightDecay)
        try? optimizer.loadState(old, partial: true)   // moments and steps of the parameters that existed before
    }

    public func learningRate(at s: Int) -> Float {
        if options.totalSteps <= 0 {
            return s < options.warmupSteps ? options.lr * Float(s + 1) / Float(options.warmupSteps) : options.lr
        }
        return WarmupCosineLR(base: options.lr, warmup: options.warmupSteps, total: options.totalSteps, minLR: options.minLR).lr(at: s)
    }

    /// The objective on one batch (no update): total, per-task losses, aux terms, router records.
    public func objective(_ images: Tensor, _ targets: [String: TaskTarget], tasks: [String]? = nil)
        throws -> (total: Tensor, tasks: [(String, Tensor)], aux: [(String, Tensor)], records: [RouterRecord]) {
        let ts = tasks ?? model.tasks
        let targets = try deriveTargets.map { try $0(images, targets) } ?? targets
        for t in ts where targets[t] == nil { throw TaskError.badTarget(task: t, message: "no target in the batch") }
        let out = try model(images, tasks: ts)
        var taskLosses: [(String, Tensor)] = []
        var total: Tensor? = nil
        for t in ts {
            let spec = try model.spec(t)
            let l = try lossFunction.map { try $0(spec, out.predictions[t]!, targets[t]!) } ?? model.heads[t]!.loss(out.predictions[t]!, targets[t]!)
            taskLosses.append((t, l))
            let weighted: Tensor
            switch options.weighting {
            case .equal: weighted = l
            case .fixed: weighted = l * (try model.spec(t).weight)
            case .uncertainty:
                let s2 = sigma[t]!.square()
                weighted = try l.div(s2).affine(scale: 0.5).add((s2 + 1).log())
            }
            total = try total.map { try $0.add(weighted) } ?? weighted
        }
        var aux: [(String, Tensor)] = []
        let recs = out.records
        // One loop for every auxiliary router loss, built-in or plugin: summed over the MoE layers, then weighted.
        for term in auxTerms where !recs.isEmpty && term.weight != 0 && ts.count >= term.minTasks {
            var sum: Tensor? = nil
            for r in recs { let l = try term.loss(r); sum = try sum.map { try $0.add(l) } ?? l }
            aux.append((term.name, sum!))
            total = try total!.add(sum! * term.weight)
        }
        return (total!, taskLosses, aux, recs)
    }

    /// One optimisation step on a batch; returns every loss term.
    @discardableResult
    public func trainStep(_ images: Tensor, _ targets: [String: TaskTarget]) throws -> StepLog {
        model.train()
        let lr = learningRate(at: step)
        optimizer.lr = lr
        // A failing step (bad target, a plugin's error) leaves the model and tape as they were.
        let (total, tl, aux, recs): (Tensor, [(String, Tensor)], [(String, Tensor)], [RouterRecord])
        // Data-parallel: each rank holds its shard of the global batch; batch statistics are global,
        // gradients are averaged over the ranks before the guard, clipping and AdamW (identical on all).
        let parallel = Distributed.isParallel
        Distributed.globalBatch = parallel
        defer { Distributed.globalBatch = false }
        var log: (total: Float, tasks: [(String, Float)], aux: [(String, Float)])
        do {
            (total, tl, aux, recs) = try objective(images, targets, tasks: trainTasks)
            try total.backward()
            log = (total.scalar, tl.map { ($0.0, $0.1.scalar) }, aux.map { ($0.0, $0.1.scalar) })
            if parallel {
                try Distributed.averageGradients(optimizer.params.map(\.tensor))
                log = try averagedOverRanks(log)
            }
        } catch {
            Autograd.reset(); model.zeroGrad(); for s in sigma.values { s.grad = nil }
            throw error
        }
        // Non-finite guard: a step whose loss or gradients hold NaN/Inf is skipped with the
        // weights untouched; after maxBadSteps such steps in a row training stops.
        if let problem = nonFinite(total: log.total, tasks: log.tasks, aux: log.aux) {
            model.zeroGrad(); for s in sigma.values { s.grad = nil }
            skippedInARow += 1
            skippedSteps += 1
            if skippedInARow >= options.maxBadSteps {
                throw TrainingError.diverged(step: step, count: skippedInARow, last: problem)
            }
            return StepLog(step: step, total: log.total, taskLosses: log.tasks, aux: log.aux, lr: lr, dropped: 0, skipped: problem)
        }
        skippedInARow = 0
        if options.clipNorm > 0 { clipGradNorm(optimizer.params, maxNorm: options.clipNorm) }
        optimizer.step()
        model.zeroGrad()
        for s in sigma.values { s.grad = nil }
        var dropped = recs.reduce(0) { $0 + $1.dropped }
        if parallel {
            let counts = try globalCounts(recs)
            model.usage.update(recs, counts: counts)
            dropped = Int(try Distributed.sum([Double(dropped)])[0])
        } else {
            model.usage.update(recs)
        }
        step += 1
        return StepLog(step: step, total: log.total, taskLosses: log.tasks, aux: log.aux, lr: lr, dropped: dropped)
    }

    /// Loss values averaged over the ranks: task losses are means over each shard, so their average is the
    /// global batch's; aux terms on global statistics are equal on every rank and stay as they are.
    func averagedOverRanks(_ l: (total: Float, tasks: [(String, Float)], aux: [(String, Float)])) throws
        -> (total: Float, tasks: [(String, Float)], aux: [(String, Float)]) {
        let v = try Distributed.sum([Double(l.total)] + l.tasks.map { Double($0.1) } + l.aux.map { Double($0.1) })
        let n = Double(Distributed.size)
        let tasks = l.tasks.enumerated().map { ($0.element.0, Float(v[1 + $0.offset] / n)) }
        let aux = l.aux.enumerated().map { ($0.element.0, Float(v[1 + l.tasks.count + $0.offset] / n)) }
        return (Float(v[0] / n), tasks, aux)
    }

    /// Selection counts per record and task segment, summed over the ranks.
    func globalCounts(_ recs: [RouterRecord]) throws -> [[[Int]]] {
        let local = recs.map { $0.selectionCounts() }
        let flat = try Distributed.sum(local.flatMap { $0.flatMap { $0.map(Double.init) } })
        var o = 0
        return local.map { $0.map { row in row.map { _ in defer { o += 1 }; return Int(flat[o].rounded()) } } }
    }

    /// Names what went non-finite: a task's loss, an aux term, or the first parameter whose gradient did.
    func nonFinite(total: Float, tasks: [(String, Float)], aux: [(String, Float)]) -> String? {
        if total.isFinite {
            for p in optimizer.params {
                guard let g = p.tensor.grad else { continue }
                if let i = (0..<g.count).first(where: { !g.data[$0].isFinite }) {
                    return "gradient of \(p.name) is \(g.data[i]) at index \(i)"
                }
            }
            return nil
        }
        for (t, l) in tasks where !l.isFinite { return "loss of task '\(t)' is \(l)" }
        for (t, l) in aux where !l.isFinite { return "aux loss '\(t)' is \(l)" }
        return "total loss is \(total)"
    }

    /// Restores the step counter and loss weights from a checkpoint: a saved σ the trainer lacks (it was
    /// made before `weighting: "uncertainty"` was applied) is created, and the optimizer then includes it.
    public func restore(step s: Int, sigma saved: [String: Tensor]) throws {
        step = s
        var added = false
        for (t, v) in saved where model.tasks.contains(t) {
            guard v.shape == [1] else { throw ModuleError.shapeMismatch(path: "loss_weights." + t, expected: [1], found: v.shape) }
            if let mine = sigma[t] { try mine.assign(v) }
            else { sigma[t] = try Tensor(v.array, shape: [1], requiresGrad: true); added = true }
        }
        if added { rebuildOptimizer() }
    }
}

// Optimizers (AdamW, SGD with momentum), learning-rate schedules and gradient
// clipping by global norm. Updates run outside the autograd tape.
import Foundation
import SquadTensor

public protocol Optimizer: AnyObject {
    var lr: Float { get set }
    var stepCount: Int { get }
    /// Applies one update from the current gradients (parameters without a gradient are skipped).
    func step()
    /// Optimizer state by name, for checkpoints.
    func state() -> [String: Tensor]
    func loadState(_ s: [String: Tensor]) throws
}

public final class AdamW: Optimizer {
    public let params: [NamedParameter]
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var stepCount = 0
    var m: [Tensor], v: [Tensor]
    /// Updates each parameter has had (PyTorch keeps a step per parameter: one added later, e.g. a
    /// new task's σ, starts its bias correction at 1 while the others go on).
    var paramSteps: [Int]

    /// PyTorch's AdamW: decoupled decay p -= lr·wd·p, skipped where `decays` is false.
    public init(_ params: [NamedParameter], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.params = params; self.lr = lr; beta1 = betas.0; beta2 = betas.1
        self.eps = eps; self.weightDecay = weightDecay
        m = params.map { Tensor(zeros: $0.tensor.shape) }
        v = params.map { Tensor(zeros: $0.tensor.shape) }
        paramSteps = Array(repeating: 0, count: params.count)
    }

    public func step() {
        stepCount += 1
        let b1 = beta1, b2 = beta2, e = eps, lr = lr
        for (i, p) in params.enumerated() {
            guard let g = p.tensor.grad, p.tensor.requiresGrad else { continue }
            paramSteps[i] += 1
            let bc1 = 1 - Foundation.pow(beta1, Float(paramSteps[i])), bc2 = 1 - Foundation.pow(beta2, Float(paramSteps[i]))
            let decay: Float = p.decays ? 1 - lr * weightDecay : 1
            let pw = p.tensor.data, pg = g.data, pm = m[i].data, pv = v[i].data
            let stepSize = lr / bc1, rbc2 = 1 / bc2.squareRoot()
            Engine.parallelFor(p.tensor.count) { r in
                for j in r {
                    let gj = pg[j]
                    let mj = b1 * pm[j] + (1 - b1) * gj
                    let vj = b2 * pv[j] + (1 - b2) * gj * gj
                    pm[j] = mj; pv[j] = vj
                    pw[j] = pw[j] * decay - stepSize * mj / (vj.squareRoot() * rbc2 + e)
                }
            }
        }
    }

    /// `step` (calls), and per parameter its moments and `step.<name>` (its own updates).
    public func state() -> [String: Tensor] {
        var s: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (i, p) in params.enumerated() {
            s["exp_avg." + p.name] = m[i]; s["exp_avg_sq." + p.name] = v[i]
            s["step." + p.name] = Tensor(scalar: Float(paramSteps[i]))
        }
        return s
    }

    public func loadState(_ s: [String: Tensor]) throws { try loadState(s, partial: false) }

    /// Restores moments and steps. `partial`: parameters missing from `s` keep fresh state (after new ones
    /// were added); otherwise a missing one is an error. State without `step.<name>` (older files) uses `step`.
    public func loadState(_ s: [String: Tensor], partial: Bool) throws {
        let global = Int(s["step"]?.scalar ?? 0)
        for (i, p) in params.enumerated() {
            let pairs = [("exp_avg." + p.name, m[i]), ("exp_avg_sq." + p.name, v[i])]
            if partial && pairs.contains(where: { s[$0.0] == nil }) { continue }
            for (key, dst) in pairs {
                guard let t = s[key] else { throw ModuleError.missingParameter(path: "optimizer." + key) }
                guard t.shape == dst.shape else { throw ModuleError.shapeMismatch(path: "optimizer." + key, expected: dst.shape, found: t.shape) }
                try dst.assign(t)
            }
            paramSteps[i] = s["step." + p.name].map { Int($0.scalar) } ?? global
        }
        stepCount = global
    }
}

public final class SGD: Optimizer {
    public let params: [NamedParameter]
    public var lr: Float
    public let momentum: Float, weightDecay: Float
    public private(set) var stepCount = 0
    var buf: [Tensor]

    /// PyTorch's SGD: b = μ·b + (g + wd·p); p -= lr·b.
    public init(_ params: [NamedParameter], lr: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.params = params; self.lr = lr; self.momentum = momentum; self.weightDecay = weightDecay
        buf = params.map { Tensor(zeros: $0.tensor.shape) }
    }

    public func step() {
        let first = stepCount == 0
        stepCount += 1
        for (i, p) in params.enumerated() {
            guard let g = p.tensor.grad, p.tensor.requiresGrad else { continue }
            let wd = p.decays ? weightDecay : 0
            let pw = p.tensor.data, pg = g.data, pb = buf[i].data
            for j in 0..<p.tensor.count {
                let d = pg[j] + wd * pw[j]
                pb[j] = first ? d : momentum * pb[j] + d
                pw[j] -= lr * pb[j]
            }
        }
    }

    public func state() -> [String: Tensor] {
        var s: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (i, p) in params.enumerated() { s["momentum_buffer." + p.name] = buf[i] }
        return s
    }

    public func loadState(_ s: [String: Tensor]) throws {
        for (i, p) in params.enumerated() {
            guard let t = s["momentum_buffer." + p.name] else { throw ModuleError.missingParameter(path: "optimizer.momentum_buffer." + p.name) }
            guard t.shape == buf[i].shape else { throw ModuleError.shapeMismatch(path: "optimizer.momentum_buffer." + p.name, expected: buf[i].shape, found: t.shape) }
            try buf[i].assign(t)
        }
        stepCount = Int(s["step"]?.scalar ?? 0)
    }
}

/// A learning rate as a function of the step (0-based).
public protocol LRSchedule {
    func lr(at step: Int) -> Float
}

public struct ConstantLR: LRSchedule {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public func lr(at step: Int) -> Float { value }
}

/// Linear warmup from 0 to `base` over `warmup` steps, then half-cycle cosine to `minLR` at `total`.
public struct WarmupCosineLR: LRSchedule {
    public let base: Float, minLR: Float, warmup: Int, total: Int
    public init(base: Float, warmup: Int, total: Int, minLR: Float = 0) {
        self.base = base; self.warmup = warmup; self.total = total; self.minLR = minLR
    }
    public func lr(at step: Int) -> Float {
        if step < warmup { return base * Float(step + 1) / Float(warmup) }
        let span = max(total - warmup, 1)
        let t = min(Float(step - warmup) / Float(span), 1)
        return minLR + (base - minLR) * 0.5 * (1 + Foundation.cos(Float.pi * t))
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before.
@discardableResult
public func clipGradNorm(_ params: [NamedParameter], maxNorm: Float) -> Float {
    var total = 0.0
    for p in params { if let g = p.tensor.grad { for j in 0..<g.count { total += Double(g.data[j]) * Double(g.data[j]) } } }
    let norm = Float(total.squareRoot())
    if norm > maxNorm && norm > 0 {
        let s = maxNorm / (norm + 1e-6)
        for p in params { if let g = p.tensor.grad { for j in 0..<g.count { g.data[j] *= s } } }
    }
    return norm
}

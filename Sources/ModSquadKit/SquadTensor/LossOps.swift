// Losses, each fused with its backward: cross-entropy over log-softmax (with an
// ignore index), mean squared error, L1, and 1 − cosine over the last axis.
import Foundation

extension Tensor {
    /// Mean over non-ignored rows of −log softmax(logits)[target]. logits [N, C], targets [N] -> [1]
    public func crossEntropy(_ targets: [Int], ignoreIndex: Int = -100) throws -> Tensor {
        guard ndim == 2, targets.count == shape[0] else {
            throw TensorError.shapeMismatch(op: "crossEntropy", shapes: [shape, [targets.count]], expected: "logits [N, C] and N targets")
        }
        let n = shape[0], c = shape[1]
        for (i, t) in targets.enumerated() where t != ignoreIndex && (t < 0 || t >= c) {
            throw TensorError.invalidArgument(op: "crossEntropy", message: "target \(t) at row \(i) out of range 0..<\(c)")
        }
        let probs = Tensor(uninitialized: shape)
        var total = 0.0, valid = 0
        for i in 0..<n {
            let x = data + i * c, p = probs.data + i * c
            Tensor.softmaxRow(x, p, c)
            let t = targets[i]
            if t == ignoreIndex { continue }
            valid += 1
            var m = -Float.infinity
            for j in 0..<c { m = Swift.max(m, x[j]) }
            var s: Float = 0
            for j in 0..<c { s += FastMath.exp(x[j] - m) }
            total += Double(m + Foundation.log(s) - x[t])
        }
        let out = Tensor(repeating: valid > 0 ? Float(total / Double(valid)) : 0, shape: [1])
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                let scale = valid > 0 ? g.data[0] / Float(valid) : 0
                accumulate(into: self) { gx, acc in
                    for i in 0..<n {
                        let t = targets[i], p = probs.data + i * c, d = gx + i * c
                        for j in 0..<c {
                            let v: Float = t == ignoreIndex ? 0 : (p[j] - (j == t ? 1 : 0)) * scale
                            d[j] = (acc ? d[j] : 0) + v
                        }
                    }
                }
            }
        }
        return out
    }

    enum PairLoss { case mse, l1 }

    func pairLoss(_ target: Tensor, _ kind: PairLoss, _ op: String) throws -> Tensor {
        guard target.shape == shape else { throw TensorError.shapeMismatch(op: op, shapes: [shape, target.shape], expected: "prediction and target of one shape") }
        var total = 0.0
        let pa = data, pb = target.data
        for i in 0..<count {
            let d = Double(pa[i] - pb[i])
            total += kind == .mse ? d * d : Swift.abs(d)
        }
        let out = Tensor(repeating: Float(total / Double(max(count, 1))), shape: [1])
        if Autograd.needs(self, target) {
            Autograd.record(out) { g in
                let s = g.data[0] / Float(max(self.count, 1))
                for (t, sign) in [(self, Float(1)), (target, Float(-1))] where t.requiresGrad {
                    accumulate(into: t) { gt, acc in
                        for i in 0..<self.count {
                            let d = pa[i] - pb[i]
                            let v = kind == .mse ? 2 * d : (d > 0 ? 1 : (d < 0 ? -1 : 0))
                            gt[i] = (acc ? gt[i] : 0) + sign * s * v
                        }
                    }
                }
            }
        }
        return out
    }

    /// mean((a − b)²). [S], [S] -> [1]
    public func mseLoss(_ target: Tensor) throws -> Tensor { try pairLoss(target, .mse, "mseLoss") }
    /// mean(|a − b|). [S], [S] -> [1]
    public func l1Loss(_ target: Tensor) throws -> Tensor { try pairLoss(target, .l1, "l1Loss") }

    /// mean over rows of 1 − cos(a, b) along the last axis. [*, C], [*, C] -> [1]
    public func cosineLoss(_ target: Tensor, eps: Float = 1e-8) throws -> Tensor {
        guard target.shape == shape, ndim >= 1 else { throw TensorError.shapeMismatch(op: "cosineLoss", shapes: [shape, target.shape], expected: "prediction and target of one shape") }
        let c = shape[ndim - 1], rows = count / max(c, 1)
        var stats = [Float](repeating: 0, count: rows * 3)   // dot, |a|, |b|
        var total = 0.0
        for r in 0..<rows {
            let a = data + r * c, b = target.data + r * c
            var dot: Float = 0, na: Float = 0, nb: Float = 0
            for j in 0..<c { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j] }
            na = Swift.max(na.squareRoot(), eps); nb = Swift.max(nb.squareRoot(), eps)
            stats[3 * r] = dot; stats[3 * r + 1] = na; stats[3 * r + 2] = nb
            total += Double(1 - dot / (na * nb))
        }
        let out = Tensor(repeating: Float(total / Double(max(rows, 1))), shape: [1])
        if Autograd.needs(self, target) {
            Autograd.record(out) { g in
                let s = g.data[0] / Float(max(rows, 1))
                // d cos/da = b/(|a||b|) − cos·a/|a|²
                for (t, other) in [(self, target), (target, self)] where t.requiresGrad {
                    accumulate(into: t) { gt, acc in
                        for r in 0..<rows {
                            let a = t.data + r * c, b = other.data + r * c
                            let dot = stats[3 * r], na = t === self ? stats[3 * r + 1] : stats[3 * r + 2]
                            let nb = t === self ? stats[3 * r + 2] : stats[3 * r + 1]
                            let cos = dot / (na * nb)
                            for j in 0..<c {
                                let dcos = b[j] / (na * nb) - cos * a[j] / (na * na)
                                gt[r * c + j] = (acc ? gt[r * c + j] : 0) - s * dcos
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

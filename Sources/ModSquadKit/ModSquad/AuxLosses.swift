// Auxiliary losses over router statistics: the task–expert mutual-information
// loss exactly as the authors compute it, switch load balance, and the z-loss.
import Foundation
import SquadTensor

public enum AuxLoss {
    /// A[t, e] = Σ over task t's rows of p(e | x, t). probs [R, E] in segments -> [T', E]
    public static func taskExpertMass(_ rec: RouterRecord) throws -> Tensor {
        let sizes = rec.segments.map(\.count), e = rec.probs.shape[1]
        if Set(sizes).count == 1 {
            return try rec.probs.reshaped([sizes.count, sizes[0], e]).sum(axis: 1)
        }
        let parts = try rec.probs.split(sizes, axis: 0).map { try $0.sum(axis: 0).reshaped([1, e]) }
        return try Tensor.concat(parts, axis: 0)
    }

    /// L = −Σ_{t,e} P(t,e)·log(P(t,e)/(P(t)P(e)) + 1e-4), with P(t,e) = A/(N + 1e-4),
    /// P(t) = Σ_e P(t,e) + 1e-4, P(e) = Σ_t P(t,e) + 1e-4 (spec §2). A [T, E], N = Σ_t |X_t| -> [1]
    public static func mutualInformation(_ a: Tensor, tokens n: Int) throws -> Tensor {
        guard a.ndim == 2 else { throw TensorError.shapeMismatch(op: "mutualInformation", shapes: [a.shape], expected: "A [T, E]") }
        let t = a.shape[0], e = a.shape[1], delta = 1e-4
        let scale = 1 / (Double(n) + 1e-4)
        var p = [Double](repeating: 0, count: t * e), pt = [Double](repeating: delta, count: t), pe = [Double](repeating: delta, count: e)
        for i in 0..<t { for j in 0..<e { let v = Double(a.data[i * e + j]) * scale; p[i * e + j] = v; pt[i] += v; pe[j] += v } }
        var loss = 0.0
        var r = [Double](repeating: 0, count: t * e)
        for i in 0..<t { for j in 0..<e {
            r[i * e + j] = p[i * e + j] / (pt[i] * pe[j])
            loss -= p[i * e + j] * Foundation.log(r[i * e + j] + delta)
        } }
        let out = Tensor(repeating: Float(loss), shape: [1])
        if Autograd.needs(a) {
            Autograd.record(out) { g in
                // dL/dP_te = −log(r+δ) − r/(r+δ) + Σ_e' P_te' r_te'/((r_te'+δ)P_t) + Σ_t' P_t'e r_t'e/((r_t'e+δ)P_e)
                var rowTerm = [Double](repeating: 0, count: t), colTerm = [Double](repeating: 0, count: e)
                for i in 0..<t { for j in 0..<e {
                    let q = p[i * e + j] * r[i * e + j] / (r[i * e + j] + delta)
                    rowTerm[i] += q / pt[i]; colTerm[j] += q / pe[j]
                } }
                let gs = Double(g.data[0]) * scale
                accumulate(into: a) { ga, acc in
                    for i in 0..<t { for j in 0..<e {
                        let rr = r[i * e + j]
                        let d = -Foundation.log(rr + delta) - rr / (rr + delta) + rowTerm[i] + colTerm[j]
                        ga[i * e + j] = (acc ? ga[i * e + j] : 0) + Float(d * gs)
                    } }
                }
            }
        }
        return out
    }

    /// The MI loss of one layer's routing (the authors' estimate).
    /// In a data-parallel step A and N are those of the global batch (summed over the ranks).
    public static func mutualInformation(_ rec: RouterRecord) throws -> Tensor {
        let n = rec.segments.reduce(0) { $0 + $1.count }
        guard Distributed.globalBatch else { return try mutualInformation(taskExpertMass(rec), tokens: n) }
        return try mutualInformation(Distributed.allReduced(taskExpertMass(rec)), tokens: n * Distributed.size)
    }

    /// The PyTorch reference's estimate: P(t) = 1/T, P(t,e) = P(e|t)/T, P(e) = Σ_t P(t,e),
    /// L = −Σ P(t,e)·(log(P(t,e)+ε) − log(P(e)+ε) + log T), ε = 1e-9. P(e|t) [T, E] -> [1]
    public static func mutualInformationUniformTasks(_ pEgivenT: Tensor) throws -> Tensor {
        guard pEgivenT.ndim == 2 else { throw TensorError.shapeMismatch(op: "mutualInformationUniformTasks", shapes: [pEgivenT.shape], expected: "P(e|t) [T, E]") }
        let t = Float(pEgivenT.shape[0])
        let pte = pEgivenT * (1 / t)
        let pe = try pte.sum(axis: 0)                                  // [E]
        let inner = try (pte + 1e-9).log().sub((pe + 1e-9).log()) + Foundation.log(t)
        return -(try pte.mul(inner).sum())
    }

    /// The reference's estimate from one layer's routing: P(e|t) = mean of p over the task's rows.
    public static func mutualInformationUniformTasks(_ rec: RouterRecord) throws -> Tensor {
        var mass = try taskExpertMass(rec)                            // [T, E]
        let ranks = Distributed.globalBatch ? Distributed.size : 1
        if ranks > 1 { mass = try Distributed.allReduced(mass) }
        let inv = Tensor(rec.segments.map { 1 / Float(max($0.count * ranks, 1)) })
        return try mutualInformationUniformTasks(mass.scaleRows(inv))
    }

    /// Switch balance: E · Σ_e (Σ_rows p_e / Σ p) · (count_e / Σ count). -> [1]
    /// In a data-parallel step the mass and counts are those of the global batch.
    public static func switchBalance(_ rec: RouterRecord) throws -> Tensor {
        var mass = try rec.probs.sum(axis: 0)                      // [E]
        let width = rec.probs.shape[1]
        var counts = [Float](repeating: 0, count: width)
        for c in rec.routerChoices where c >= 0 { counts[c] += 1 }
        if Distributed.globalBatch {
            mass = try Distributed.allReduced(mass)
            try counts.withUnsafeMutableBufferPointer { try Distributed.world.allReduceSum($0.baseAddress!, count: width) }
        }
        let total = counts.reduce(0, +)
        let f = Tensor(counts.map { $0 / max(total, 1) })
        let massTotal = mass.array.reduce(0, +)
        return try mass.mul(f).sum().affine(scale: Float(width) / max(massTotal, 1e-12))
    }

    /// z-loss: mean over rows of (log Σ_e exp logits)². -> [1]
    public static func zLoss(_ rec: RouterRecord) throws -> Tensor {
        let logits = rec.logits
        let e = logits.shape[1], rows = logits.shape[0]
        var lse = [Float](repeating: 0, count: rows)
        var loss = 0.0
        for r in 0..<rows {
            let x = logits.data + r * e
            var m = -Float.infinity
            for j in 0..<e { m = max(m, x[j]) }
            var s: Float = 0
            for j in 0..<e { s += Foundation.exp(x[j] - m) }
            lse[r] = m + Foundation.log(s)
            loss += Double(lse[r] * lse[r])
        }
        let out = Tensor(repeating: Float(loss / Double(max(rows, 1))), shape: [1])
        if Autograd.needs(logits) {
            Autograd.record(out) { g in
                let s = g.data[0] * 2 / Float(max(rows, 1))
                accumulate(into: logits) { gl, acc in
                    for r in 0..<rows {
                        let x = logits.data + r * e
                        for j in 0..<e {
                            let v = s * lse[r] * Foundation.exp(x[j] - lse[r])
                            gl[r * e + j] = (acc ? gl[r * e + j] : 0) + v
                        }
                    }
                }
            }
        }
        return out
    }
}

// Fused scaled-dot-product attention, softmax(Q·Kᵀ·scale)·V, over G independent
// groups (batch × heads, or MoA's batch with k·N expert queries), with its backward.
import Foundation

extension Tensor {
    /// q [G,Nq,d], k [G,Nk,d], v [G,Nk,dv] -> [G,Nq,dv]; scale defaults to 1/√d.
    public static func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil) throws -> Tensor {
        guard q.ndim == 3, k.ndim == 3, v.ndim == 3, q.shape[0] == k.shape[0], k.shape[0] == v.shape[0],
              q.shape[2] == k.shape[2], k.shape[1] == v.shape[1] else {
            throw TensorError.shapeMismatch(op: "attention", shapes: [q.shape, k.shape, v.shape], expected: "q [G,Nq,d], k [G,Nk,d], v [G,Nk,dv]")
        }
        let g = q.shape[0], nq = q.shape[1], nk = k.shape[1], d = q.shape[2], dv = v.shape[2]
        let s = scale ?? 1 / Float(d).squareRoot()
        let p = Tensor(uninitialized: [g, nq, nk])
        let out = Tensor(uninitialized: [g, nq, dv])
        let pq = q.data, pk = k.data, pv = v.data, pp = p.data, po = out.data
        Engine.parallelItems(g) { i in
            let pi = pp + i * nq * nk
            BLAS.sgemm(transA: false, transB: true, m: nq, n: nk, k: d, alpha: s, a: pq + i * nq * d, lda: d, b: pk + i * nk * d, ldb: d, beta: 0, c: pi, ldc: nk)
            for r in 0..<nq { Tensor.softmaxRow(pi + r * nk, pi + r * nk, nk) }
            BLAS.sgemm(transA: false, transB: false, m: nq, n: dv, k: nk, a: pi, lda: nk, b: pv + i * nk * dv, ldb: dv, beta: 0, c: po + i * nq * dv, ldc: dv)
        }
        if Autograd.needs(q, k, v) {
            Autograd.record(out) { gout in
                let pp = p.data   // keeps P's storage alive until backward (raw pointers don't)
                let dS = Tensor(uninitialized: [g, nq, nk])
                let gq = q.requiresGrad ? (q.grad ?? Tensor(zeros: q.shape)) : nil
                // The same tensor passed twice (q === k) shares one gradient buffer.
                let gk = k === q ? gq : (k.requiresGrad ? (k.grad ?? Tensor(zeros: k.shape)) : nil)
                let gv = v === q ? gq : v === k ? gk : (v.requiresGrad ? (v.grad ?? Tensor(zeros: v.shape)) : nil)
                let pg = gout.data, pds = dS.data
                Engine.parallelItems(g) { i in
                    let pi = pp + i * nq * nk, gi = pg + i * nq * dv, dsi = pds + i * nq * nk
                    if let gv = gv {   // dV += Pᵀ·dO
                        BLAS.sgemm(transA: true, transB: false, m: nk, n: dv, k: nq, a: pi, lda: nk, b: gi, ldb: dv, beta: 1, c: gv.data + i * nk * dv, ldc: dv)
                    }
                    // dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))·scale
                    BLAS.sgemm(transA: false, transB: true, m: nq, n: nk, k: dv, a: gi, lda: dv, b: pv + i * nk * dv, ldb: dv, beta: 0, c: dsi, ldc: nk)
                    for r in 0..<nq {
                        let prow = pi + r * nk, drow = dsi + r * nk
                        var dot: Float = 0
                        for j in 0..<nk { dot += prow[j] * drow[j] }
                        for j in 0..<nk { drow[j] = prow[j] * (drow[j] - dot) * s }
                    }
                    if let gq = gq {   // dQ += dS·K
                        BLAS.sgemm(transA: false, transB: false, m: nq, n: d, k: nk, a: dsi, lda: nk, b: pk + i * nk * d, ldb: d, beta: 1, c: gq.data + i * nq * d, ldc: d)
                    }
                    if let gk = gk {   // dK += dSᵀ·Q
                        BLAS.sgemm(transA: true, transB: false, m: nk, n: d, k: nq, a: dsi, lda: nk, b: pq + i * nq * d, ldb: d, beta: 1, c: gk.data + i * nk * d, ldc: d)
                    }
                }
                if let t = gq { q.grad = t }
                if let t = gk { k.grad = t }
                if let t = gv { v.grad = t }
            }
        }
        return out
    }
}

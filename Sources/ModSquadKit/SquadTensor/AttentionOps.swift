// Fused scaled-dot-product attention, softmax(Q·Kᵀ·scale)·V, with its backward. Heads
// are read where the projections left them (side by side in each token's row) and the
// output is written token-major, so no permute or split surrounds it; the small
// products run on MicroGEMM, one (image, head) item per task.
import Foundation

extension Tensor {
    /// q [G,Nq,d], k [G,Nk,d], v [G,Nk,dv] -> [G,Nq,dv]; scale defaults to 1/√d.
    public static func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil) throws -> Tensor {
        guard q.ndim == 3, k.ndim == 3, v.ndim == 3, q.shape[0] == k.shape[0], k.shape[0] == v.shape[0],
              q.shape[2] == k.shape[2], k.shape[1] == v.shape[1] else {
            throw TensorError.shapeMismatch(op: "attention", shapes: [q.shape, k.shape, v.shape], expected: "q [G,Nq,d], k [G,Nk,d], v [G,Nk,dv]")
        }
        return try headAttention(q: q, k: k, v: v, heads: 1, headDim: q.shape[2], valueDim: v.shape[2], scale: scale)
    }

    /// Multi-head attention over heads laid side by side: q [B,Nq,Cq], k [B,Nk,Ck], v [B,Nk,Cv];
    /// head h reads columns qOffset + h·d ..< +d of q (k likewise, v with dv) -> [B, Nq, H·dv].
    /// q, k and v may be one tensor (a fused QKV projection) at different offsets.
    public static func headAttention(q: Tensor, qOffset: Int = 0, k: Tensor, kOffset: Int = 0, v: Tensor, vOffset: Int = 0,
                                     heads: Int, headDim d: Int, valueDim: Int? = nil, scale: Float? = nil) throws -> Tensor {
        let dv = valueDim ?? d
        guard q.ndim == 3, k.ndim == 3, v.ndim == 3, q.shape[0] == k.shape[0], k.shape[0] == v.shape[0], k.shape[1] == v.shape[1],
              heads > 0, d > 0, dv > 0, qOffset >= 0, kOffset >= 0, vOffset >= 0,
              qOffset + heads * d <= q.shape[2], kOffset + heads * d <= k.shape[2], vOffset + heads * dv <= v.shape[2] else {
            throw TensorError.shapeMismatch(op: "attention", shapes: [q.shape, k.shape, v.shape],
                expected: "q [B,Nq,≥\(qOffset)+\(heads)·\(d)], k [B,Nk,≥\(kOffset)+\(heads)·\(d)], v [B,Nk,≥\(vOffset)+\(heads)·\(dv)]")
        }
        let b = q.shape[0], nq = q.shape[1], nk = k.shape[1], h = heads
        let cq = q.shape[2], ck = k.shape[2], cv = v.shape[2], co = h * dv
        let s = scale ?? 1 / Float(d).squareRoot()
        // P is kept for backward only; without autograd each item's P stays in a cache-sized scratch.
        let save = Autograd.needs(q, k, v)
        let p = Tensor(uninitialized: save ? [b * h, nq, nk] : [0])
        let out = Tensor(uninitialized: [b, nq, co])
        let pq = q.data, pk = k.data, pv = v.data, pp = p.data, po = out.data
        Engine.parallelItems(b * h) { i in
            let bi = i / h, hi = i % h
            let qa = pq + bi * nq * cq + qOffset + hi * d, ka = pk + bi * nk * ck + kOffset + hi * d
            let va = pv + bi * nk * cv + vOffset + hi * dv
            // Each item's operands are packed contiguous first: rows of one head sit 0.75-1.5 KiB
            // apart in the projections, which maps them onto a few L1 sets (conflict misses).
            withUnsafeTemporaryAllocation(of: Float.self, capacity: nq * d + d * nk + nk * dv + (save ? 0 : nq * nk)) { buf in
                let qc = buf.baseAddress!, kt = qc + nq * d, vc = kt + d * nk
                let pi = save ? pp + i * nq * nk : vc + nk * dv
                pack(qa, rows: nq, cols: d, ld: cq, into: qc)
                transpose(ka, rows: nk, cols: d, ld: ck, into: kt)                      // Kᵀ [d, Nk]
                pack(va, rows: nk, cols: dv, ld: cv, into: vc)
                MicroGEMM.gemm(m: nq, n: nk, k: d, alpha: s, a: qc, ars: d, acs: 1, b: kt, ldb: nk, c: pi, ldc: nk, accumulate: false)
                for r in 0..<nq { Tensor.softmaxRow(pi + r * nk, pi + r * nk, nk) }
                MicroGEMM.gemm(m: nq, n: dv, k: nk, a: pi, ars: nk, acs: 1, b: vc, ldb: dv, c: po + bi * nq * co + hi * dv, ldc: co, accumulate: false)
            }
        }
        guard save else { return out }
        Autograd.record(out) { gout in
            let pp = p.data   // keeps P's storage alive until backward (raw pointers don't)
            // A fresh gradient whose columns the roles reading that tensor cover exactly once is
            // written, not zero-filled and added to (the usual case: q alone, K/V or QKV fused).
            let roles = [(q, qOffset, h * d), (k, kOffset, h * d), (v, vOffset, h * dv)]
            func writes(_ t: Tensor) -> Bool {
                guard t.grad == nil else { return false }
                var end = 0
                for (_, o, w) in roles.filter({ $0.0 === t }).sorted(by: { $0.1 < $1.1 }) { if o != end { return false }; end = o + w }
                return end == t.shape[2]
            }
            let (accQ, accK, accV) = (!writes(q), !writes(k), !writes(v))
            func gradient(_ t: Tensor, _ acc: Bool) -> Tensor? {
                t.requiresGrad ? (t.grad ?? (acc ? Tensor(zeros: t.shape) : Tensor(uninitialized: t.shape))) : nil
            }
            let gq = gradient(q, accQ)
            // One tensor passed in several roles shares one gradient buffer.
            let gk = k === q ? gq : gradient(k, accK)
            let gv = v === q ? gq : v === k ? gk : gradient(v, accV)
            let pg = gout.data
            // Items write their own head's columns; if roles sharing a buffer overlap across
            // heads, one task takes all heads of an image so no two tasks write the same floats.
            var overlapping = false
            for x in 0..<3 { for y in (x + 1)..<3 where roles[x].0 === roles[y].0 {
                let (ox, wx) = (roles[x].1, roles[x].2), (oy, wy) = (roles[y].1, roles[y].2)
                if ox < oy + wy && oy < ox + wx { overlapping = true }
            } }
            let perTask = overlapping ? h : 1
            Engine.parallelItems(b * h / perTask) { t in
                for i in (t * perTask)..<((t + 1) * perTask) {
                    let bi = i / h, hi = i % h
                    let qa = pq + bi * nq * cq + qOffset + hi * d, ka = pk + bi * nk * ck + kOffset + hi * d
                    let va = pv + bi * nk * cv + vOffset + hi * dv, pi = pp + i * nq * nk
                    let ga = pg + bi * nq * co + hi * dv
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: nq * dv + nq * nk + dv * nk + nk * d + nq * d) { buf in
                        let gc = buf.baseAddress!, ds = gc + nq * dv, vt = ds + nq * nk, kc = vt + dv * nk, qc = kc + nk * d
                        pack(ga, rows: nq, cols: dv, ld: co, into: gc)                  // dO [Nq, dv]
                        if let gv = gv {   // dV += Pᵀ·dO
                            MicroGEMM.gemm(m: nk, n: dv, k: nq, a: pi, ars: 1, acs: nk, b: gc, ldb: dv,
                                           c: gv.data + bi * nk * cv + vOffset + hi * dv, ldc: cv, accumulate: accV)
                        }
                        guard gq != nil || gk != nil else { return }
                        transpose(va, rows: nk, cols: dv, ld: cv, into: vt)            // Vᵀ [dv, Nk]
                        // dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))·scale
                        MicroGEMM.gemm(m: nq, n: nk, k: dv, a: gc, ars: dv, acs: 1, b: vt, ldb: nk, c: ds, ldc: nk, accumulate: false)
                        for r in 0..<nq {
                            let prow = pi + r * nk, drow = ds + r * nk
                            let dot = Kernels.dot(prow, drow, nk)
                            for j in 0..<nk { drow[j] = prow[j] * (drow[j] - dot) * s }
                        }
                        if let gq = gq {   // dQ += dS·K
                            pack(ka, rows: nk, cols: d, ld: ck, into: kc)
                            MicroGEMM.gemm(m: nq, n: d, k: nk, a: ds, ars: nk, acs: 1, b: kc, ldb: d,
                                           c: gq.data + bi * nq * cq + qOffset + hi * d, ldc: cq, accumulate: accQ)
                        }
                        if let gk = gk {   // dK += dSᵀ·Q
                            pack(qa, rows: nq, cols: d, ld: cq, into: qc)
                            MicroGEMM.gemm(m: nk, n: d, k: nq, a: ds, ars: 1, acs: nk, b: qc, ldb: d,
                                           c: gk.data + bi * nk * ck + kOffset + hi * d, ldc: ck, accumulate: accK)
                        }
                    }
                }
            }
            if let t = gq { q.grad = t }
            if let t = gk { k.grad = t }
            if let t = gv { v.grad = t }
        }
        return out
    }

    /// dst[r·cols + c] = src[r·ld + c]: a [rows, cols] block with row stride ld, made contiguous.
    @inline(__always)
    static func pack(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { (dst + r * cols).update(from: src + r * ld, count: cols) }
    }

    /// dst[c·rows + r] = src[r·ld + c]: a [rows, cols] block with row stride ld, transposed.
    @inline(__always)
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        // Stores in order (strided stores went to a new cache line each and dominated the forward).
        for c in 0..<cols { let d = dst + c * rows; for r in 0..<rows { d[r] = src[r * ld + c] } }
    }
}

// The grouped ("parallel experts") linear op: rows arrive sorted by expert, and
// each expert's contiguous group goes through one GEMM with that expert's weight.
import Foundation

extension Tensor {
    /// Splits each expert's group of rows into pieces of about `minRows`..2·minRows rows:
    /// (expert, first row, rows).
    static func rowPieces(sizes: [Int], starts: [Int], minRows: Int) -> [(Int, Int, Int)] {
        var out: [(Int, Int, Int)] = []
        for (i, n) in sizes.enumerated() where n > 0 {
            let parts = max(1, n / minRows)
            let per = (n + parts - 1) / parts
            var r = 0
            while r < n { out.append((i, starts[i] + r, min(per, n - r))); r += per }
        }
        return out
    }

    /// y[group e] = x[group e]·W[e] + b[e]. x [M, in], W [E, in, out], b [E, out], sizes [E] (Σ = M) -> [M, out]
    public func groupedLinear(_ w: Tensor, _ bias: Tensor?, sizes: [Int]) throws -> Tensor {
        let x = self
        guard x.ndim == 2, w.ndim == 3, w.shape[1] == x.shape[1], sizes.count == w.shape[0] else {
            throw TensorError.shapeMismatch(op: "groupedLinear", shapes: [x.shape, w.shape, [sizes.count]], expected: "x [M, in], W [E, in, out] and E group sizes")
        }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[0] else {
            throw TensorError.invalidArgument(op: "groupedLinear", message: "group sizes \(sizes) must be non-negative and sum to the \(x.shape[0]) rows")
        }
        let e = w.shape[0], fin = w.shape[1], fout = w.shape[2], m = x.shape[0]
        if let b = bias, b.shape != [e, fout] {
            throw TensorError.shapeMismatch(op: "groupedLinear", shapes: [w.shape, b.shape], expected: "bias [\(e), \(fout)]")
        }
        var starts = [Int](repeating: 0, count: e)
        for i in 1..<max(e, 1) { starts[i] = starts[i - 1] + sizes[i - 1] }
        let out = Tensor(uninitialized: [m, fout])
        let px = x.data, pw = w.data, po = out.data
        // One parallel region per call: row pieces of every expert's group, each one
        // single-threaded GEMM, scheduled dynamically over the engine's threads.
        let pieces = Tensor.rowPieces(sizes: sizes, starts: starts, minRows: 128)
        let pb = bias?.data
        Engine.parallelItems(pieces.count) { p in
            let (i, r0, rows) = pieces[p]
            let o = po + r0 * fout
            if let b = pb { for r in 0..<rows { (o + r * fout).update(from: b + i * fout, count: fout) } }
            BLAS.call(false, false, rows, fout, fin, 1, px + r0 * fin, fin, pw + i * fin * fout, fout, pb == nil ? 0 : 1, o, fout)
        }
        let needs = bias.map { Autograd.needs(x, w, $0) } ?? Autograd.needs(x, w)
        if needs {
            Autograd.record(out) { g in
                let pg = g.data
                accumulate(into: x) { gx, acc in   // dx = dy·W[e]ᵀ, by row pieces
                    Engine.parallelItems(pieces.count) { p in
                        let (i, r0, rows) = pieces[p]
                        BLAS.call(false, true, rows, fin, fout, 1, pg + r0 * fout, fout, pw + i * fin * fout, fout, acc ? 1 : 0, gx + r0 * fin, fin)
                    }
                }
                // dW[e] = x[e]ᵀ·dy[e] and db[e] = Σ dy[e]: one expert per work item (no shared writes)
                let gwT: Tensor? = w.requiresGrad ? (w.grad ?? Tensor(zeros: w.shape)) : nil
                let gbT: Tensor? = bias.flatMap { $0.requiresGrad ? ($0.grad ?? Tensor(zeros: $0.shape)) : nil }
                Engine.parallelItems(e) { i in
                    if let gw = gwT, sizes[i] > 0 {
                        BLAS.call(true, false, fin, fout, sizes[i], 1, px + starts[i] * fin, fin, pg + starts[i] * fout, fout, 1, gw.data + i * fin * fout, fout)
                    }
                    if let gb = gbT {
                        let d = gb.data + i * fout
                        for r in starts[i]..<(starts[i] + sizes[i]) { let s = pg + r * fout; for j in 0..<fout { d[j] += s[j] } }
                    }
                }
                if let t = gwT { w.grad = t }
                if let t = gbT, let b = bias { b.grad = t }
            }
        }
        return out
    }

    /// out[index[i]] += scales[i]·src[i]: the MoE combine (gate scaling fused with the
    /// scatter-add back to token order). src [P, D], scales [P], index [P] -> [rows, D]
    public func combineRows(scales: Tensor, index: [Int], rows: Int) throws -> Tensor {
        let src = self
        guard src.ndim == 2, scales.count == src.shape[0], index.count == src.shape[0] else {
            throw TensorError.shapeMismatch(op: "combineRows", shapes: [src.shape, scales.shape, [index.count]], expected: "src [P, D], P scales and P indices")
        }
        for (j, i) in index.enumerated() where i < 0 || i >= rows {
            throw TensorError.invalidArgument(op: "combineRows", message: "index \(i) at position \(j) out of range 0..<\(rows)")
        }
        let p = src.shape[0], d = src.shape[1]
        let out = Tensor(zeros: [rows, d])
        let ps = src.data, pw = scales.data, po = out.data
        Tensor.scatterAdd(from: ps, rows: index, into: po, width: d, scales: pw)
        if Autograd.needs(src, scales) {
            Autograd.record(out) { g in
                let pg = g.data
                accumulate(into: src) { gs, acc in       // d src[j] = scales[j]·g[index[j]]
                    index.withUnsafeBufferPointer { ib in
                        Engine.parallelFor(p, grain: max(1, 32_768 / max(d, 1))) { r in
                            for j in r {
                                let w = pw[j], s = pg + ib[j] * d, t = gs + j * d
                                if acc { for c in 0..<d { t[c] += w * s[c] } } else { for c in 0..<d { t[c] = w * s[c] } }
                            }
                        }
                    }
                }
                accumulate(into: scales) { gw, acc in    // d scales[j] = ⟨g[index[j]], src[j]⟩
                    index.withUnsafeBufferPointer { ib in
                        Engine.parallelFor(p, grain: max(1, 32_768 / max(d, 1))) { r in
                            for j in r {
                                let v = Kernels.dot(pg + ib[j] * d, ps + j * d, d)
                                gw[j] = (acc ? gw[j] : 0) + v
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

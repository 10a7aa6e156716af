// The grouped ("parallel experts") linear op: rows arrive sorted by expert, and
// each expert's contiguous group goes through one GEMM with that expert's weight.
import Foundation

extension Tensor {
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
        for i in 0..<e where sizes[i] > 0 {
            let o = po + starts[i] * fout
            if let b = bias { for r in 0..<sizes[i] { (o + r * fout).update(from: b.data + i * fout, count: fout) } }
            BLAS.sgemm(transA: false, transB: false, m: sizes[i], n: fout, k: fin, a: px + starts[i] * fin, lda: fin,
                       b: pw + i * fin * fout, ldb: fout, beta: bias == nil ? 0 : 1, c: o, ldc: fout)
        }
        let needs = bias.map { Autograd.needs(x, w, $0) } ?? Autograd.needs(x, w)
        if needs {
            Autograd.record(out) { g in
                let pg = g.data
                accumulate(into: x) { gx, acc in   // dx = dy·W[e]ᵀ
                    for i in 0..<e where sizes[i] > 0 {
                        BLAS.sgemm(transA: false, transB: true, m: sizes[i], n: fin, k: fout, a: pg + starts[i] * fout, lda: fout,
                                   b: pw + i * fin * fout, ldb: fout, beta: acc ? 1 : 0, c: gx + starts[i] * fin, ldc: fin)
                    }
                }
                accumulate(into: w) { gw, acc in   // dW[e] = x[e]ᵀ·dy[e]
                    for i in 0..<e {
                        if sizes[i] == 0 { if !acc { (gw + i * fin * fout).update(repeating: 0, count: fin * fout) }; continue }
                        BLAS.sgemm(transA: true, transB: false, m: fin, n: fout, k: sizes[i], a: px + starts[i] * fin, lda: fin,
                                   b: pg + starts[i] * fout, ldb: fout, beta: acc ? 1 : 0, c: gw + i * fin * fout, ldc: fout)
                    }
                }
                if let b = bias {
                    accumulate(into: b) { gb, acc in
                        if !acc { gb.update(repeating: 0, count: e * fout) }
                        for i in 0..<e {
                            let d = gb + i * fout
                            for r in starts[i]..<(starts[i] + sizes[i]) { let s = pg + r * fout; for j in 0..<fout { d[j] += s[j] } }
                        }
                    }
                }
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
        for j in 0..<p { let w = pw[j], o = po + index[j] * d, s = ps + j * d; for c in 0..<d { o[c] += w * s[c] } }
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

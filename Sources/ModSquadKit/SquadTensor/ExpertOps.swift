// The grouped ("parallel experts") linear op: rows arrive sorted by expert (or are picked
// by the dispatch inside the op), and each expert's group goes through one GEMM with that
// expert's weight; then the MoE combine.
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

    /// y[group e] = a[group e]·W[e] + b[e], a = x, or x's rows picked by `rows` (the MoE dispatch,
    /// a[j] = x[rows[j]]), or GELU(x) with `geluInput`. x [N, in], W [E, in, out], b [E, out],
    /// sizes [E] (Σ = M, the rows of a) -> [M, out]. Picked or activated inputs are built piece by
    /// piece just before their GEMM and never stored: backward rebuilds them from x.
    public func groupedLinear(_ w: Tensor, _ bias: Tensor?, sizes: [Int], rows: [Int]? = nil, geluInput: Bool = false) throws -> Tensor {
        let x = self
        guard x.ndim == 2, w.ndim == 3, w.shape[1] == x.shape[1], sizes.count == w.shape[0] else {
            throw TensorError.shapeMismatch(op: "groupedLinear", shapes: [x.shape, w.shape, [sizes.count]], expected: "x [M, in], W [E, in, out] and E group sizes")
        }
        let m = rows?.count ?? x.shape[0]
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == m else {
            throw TensorError.invalidArgument(op: "groupedLinear", message: "group sizes \(sizes) must be non-negative and sum to the \(m) rows")
        }
        if let rows = rows {
            for (j, i) in rows.enumerated() where i < 0 || i >= x.shape[0] {
                throw TensorError.invalidArgument(op: "groupedLinear", message: "row \(i) at position \(j) out of range 0..<\(x.shape[0]) for \(shapeString(x.shape))")
            }
        }
        let e = w.shape[0], fin = w.shape[1], fout = w.shape[2]
        if let b = bias, b.shape != [e, fout] {
            throw TensorError.shapeMismatch(op: "groupedLinear", shapes: [w.shape, b.shape], expected: "bias [\(e), \(fout)]")
        }
        var starts = [Int](repeating: 0, count: e)
        for i in 1..<max(e, 1) { starts[i] = starts[i - 1] + sizes[i - 1] }
        let out = Tensor(uninitialized: [m, fout])
        let px = x.data, pw = w.data, po = out.data
        let direct = rows == nil && !geluInput
        /// The GEMM's input rows r0..<r0+n, built into `buf` (picked and/or through GELU), and
        /// GELU′ of them into `slope` when given (one erf and one exp for both).
        func build(_ r0: Int, _ n: Int, _ buf: UnsafeMutablePointer<Float>, slope: UnsafeMutablePointer<Float>? = nil) {
            for r in 0..<n {
                let src = px + (rows?[r0 + r] ?? (r0 + r)) * fin, dst = buf + (r0 + r) * fin
                if let sl = slope {
                    let d = sl + (r0 + r) * fin
                    for c in 0..<fin { let (v, g) = FastMath.geluAndGrad(src[c]); dst[c] = v; d[c] = g }
                } else if geluInput {
                    for c in 0..<fin { dst[c] = FastMath.gelu(src[c]) }
                } else {
                    dst.update(from: src, count: fin)
                }
            }
        }
        // One parallel region per call: row pieces of every expert's group, each one
        // single-threaded GEMM, scheduled dynamically over the engine's threads.
        let pieces = Tensor.rowPieces(sizes: sizes, starts: starts, minRows: 128)
        let pb = bias?.data
        let input = direct ? x : Tensor(uninitialized: [m, fin])   // transient: freed when this returns
        let pa = input.data
        Engine.parallelItems(pieces.count) { p in
            let (i, r0, n) = pieces[p]
            let o = po + r0 * fout
            if !direct { build(r0, n, pa) }
            BLAS.call(false, false, n, fout, fin, 1, pa + r0 * fin, fin, pw + i * fin * fout, fout, 0, o, fout)
            if let b = pb { let be = b + i * fout; for r in 0..<n { let or = o + r * fout; for j in 0..<fout { or[j] += be[j] } } }
        }
        let needs = bias.map { Autograd.needs(x, w, $0) } ?? Autograd.needs(x, w)
        guard needs else { return out }
        Autograd.record(out) { g in
            let pg = g.data
            let a = direct ? x : Tensor(uninitialized: [m, fin])
            let pa = a.data
            let slope = geluInput && x.requiresGrad ? Tensor(uninitialized: [m, fin]) : nil   // GELU′, transient
            let ps = slope?.data
            // Rebuilt for the weight gradient and GELU′ (not when the experts are frozen and x is plain rows).
            if !direct && (w.requiresGrad || ps != nil) { Engine.parallelItems(pieces.count) { p in build(pieces[p].1, pieces[p].2, pa, slope: ps) } }
            // dW[e] = a[e]ᵀ·dy[e] and db[e] = Σ dy[e]: one (expert, half of the output columns) per
            // work item: no shared writes, and twice the items to balance uneven expert loads.
            let gwT: Tensor? = w.requiresGrad ? (w.grad ?? Tensor(zeros: w.shape)) : nil
            let gbT: Tensor? = bias.flatMap { $0.requiresGrad ? ($0.grad ?? Tensor(zeros: $0.shape)) : nil }
            let halves = Engine.threads > 1 && fout >= 32 ? 2 : 1
            Engine.parallelItems(e * halves) { t in
                let i = t / halves, c0 = (t % halves) * fout / halves, c1 = (t % halves + 1) * fout / halves
                if let gw = gwT, sizes[i] > 0 {
                    BLAS.call(true, false, fin, c1 - c0, sizes[i], 1, pa + starts[i] * fin, fin, pg + starts[i] * fout + c0, fout,
                              1, gw.data + i * fin * fout + c0, fout)
                }
                if let gb = gbT {
                    let d = gb.data + i * fout
                    for r in starts[i]..<(starts[i] + sizes[i]) { let s = pg + r * fout; for j in c0..<c1 { d[j] += s[j] } }
                }
            }
            if let t = gwT { w.grad = t }
            if let t = gbT, let b = bias { b.grad = t }
            guard x.requiresGrad else { return }
            // dx = dy·W[e]ᵀ by row pieces (times GELU′ of the source rows for a GELU input). Plain
            // rows: straight into x's gradient. GELU input: straight in when the gradient is fresh,
            // else through a's buffer and added. Picked rows: into a's buffer (its rows are no
            // longer needed), then scatter-added to x's rows.
            accumulate(into: x) { gx, acc in
                Engine.parallelItems(pieces.count) { p in
                    let (i, r0, n) = pieces[p]
                    let intoX = rows == nil && (ps == nil || !acc)
                    let dst = intoX ? gx : pa
                    BLAS.call(false, true, n, fin, fout, 1, pg + r0 * fout, fout, pw + i * fin * fout, fout, intoX && acc ? 1 : 0, dst + r0 * fin, fin)
                    guard let ps = ps else { return }
                    let span = (r0 * fin)..<((r0 + n) * fin)
                    if rows == nil && acc { for j in span { gx[j] += pa[j] * ps[j] } } else { for j in span { dst[j] *= ps[j] } }
                }
                if let rows = rows {
                    if !acc { gx.update(repeating: 0, count: x.count) }
                    Tensor.scatterAdd(from: pa, rows: rows, into: gx, width: fin, scales: nil)
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

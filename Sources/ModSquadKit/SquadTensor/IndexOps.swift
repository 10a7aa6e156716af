// Row gather and scatter-add (expert dispatch, embeddings) and top-k on the last axis.
import Foundation

extension Tensor {
    /// dst[rows[j]] += (scales?[j] ?? 1)·src[j] for every j. Rows repeat, so threads split the
    /// columns (each thread owns a column range of every row): no write conflicts.
    static func scatterAdd(from src: UnsafeMutablePointer<Float>, rows: [Int], into dst: UnsafeMutablePointer<Float>,
                           width f: Int, scales: UnsafeMutablePointer<Float>?) {
        let blocks = rows.count * f >= 1 << 16 ? Swift.min(Engine.threads, Swift.max(1, f / 16)) : 1
        let per = (f + blocks - 1) / blocks
        rows.withUnsafeBufferPointer { ib in
            Engine.parallelItems(blocks) { b in
                let c0 = b * per, c1 = Swift.min(f, c0 + per)
                if c0 >= c1 { return }
                for (j, i) in ib.enumerated() {
                    let d = dst + i * f, s = src + j * f
                    if let w = scales?[j] { for c in c0..<c1 { d[c] += w * s[c] } } else { for c in c0..<c1 { d[c] += s[c] } }
                }
            }
        }
    }

    /// out[i] = x[idx[i]] over the first axis. x [N, F...], idx [M] -> [M, F...]
    public func gatherRows(_ idx: [Int]) throws -> Tensor {
        guard ndim >= 1 else { throw TensorError.invalidArgument(op: "gatherRows", message: "needs at least 1-D, got a scalar") }
        let n = shape[0], f = n == 0 ? 0 : count / n
        for (j, i) in idx.enumerated() where i < 0 || i >= n {
            throw TensorError.invalidArgument(op: "gatherRows", message: "index \(i) at position \(j) out of range 0..<\(n) for \(shapeString(shape))")
        }
        var outShape = shape; outShape[0] = idx.count
        let out = Tensor(uninitialized: outShape)
        let px = data, po = out.data
        idx.withUnsafeBufferPointer { ib in
            Engine.parallelFor(idx.count, grain: max(1, 32_768 / max(f, 1))) { r in
                for j in r { (po + j * f).update(from: px + ib[j] * f, count: f) }
            }
        }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    if !acc { gx.update(repeating: 0, count: self.count) }
                    let pg = g.data
                    Tensor.scatterAdd(from: pg, rows: idx, into: gx, width: f, scales: nil)
                }
            }
        }
        return out
    }

    /// out[idx[i]] += src[i]. src [M, F...], idx [M] -> [rows, F...]
    public func scatterAddRows(_ idx: [Int], rows: Int) throws -> Tensor {
        guard ndim >= 1, idx.count == shape[0] else {
            throw TensorError.shapeMismatch(op: "scatterAddRows", shapes: [shape, [idx.count]], expected: "one index per source row")
        }
        guard rows >= 0 else { throw TensorError.invalidArgument(op: "scatterAddRows", message: "rows = \(rows) must not be negative") }
        for (j, i) in idx.enumerated() where i < 0 || i >= rows {
            throw TensorError.invalidArgument(op: "scatterAddRows", message: "index \(i) at position \(j) out of range 0..<\(rows)")
        }
        let f = shape[0] == 0 ? (shape.dropFirst().reduce(1, *)) : count / shape[0]
        var outShape = shape; outShape[0] = rows
        let out = Tensor(zeros: outShape)
        let ps = data, po = out.data
        Tensor.scatterAdd(from: ps, rows: idx, into: po, width: f, scales: nil)
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gs, acc in
                    let pg = g.data
                    idx.withUnsafeBufferPointer { ib in
                        Engine.parallelFor(idx.count, grain: max(1, 32_768 / max(f, 1))) { r in
                            for j in r {
                                let d = gs + j * f, s = pg + ib[j] * f
                                if acc { for c in 0..<f { d[c] += s[c] } } else { d.update(from: s, count: f) }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The k largest along the last axis, descending (ties: lower index first).
    /// x [*, n] -> values [*, k], indices (flat, rows·k, positions within the row)
    public func topk(_ k: Int) throws -> (values: Tensor, indices: [Int]) {
        guard ndim >= 1, k >= 1, k <= shape[ndim - 1] else {
            throw TensorError.invalidArgument(op: "topk", message: "k = \(k) must be in 1...\(ndim >= 1 ? shape[ndim - 1] : 0) for \(shapeString(shape))")
        }
        let n = shape[ndim - 1], rows = count / n
        var outShape = shape; outShape[ndim - 1] = k
        let vals = Tensor(uninitialized: outShape)
        var indices = [Int](repeating: 0, count: rows * k)
        let px = data, pv = vals.data
        indices.withUnsafeMutableBufferPointer { ib in
            let base = ib.baseAddress!
            Engine.parallelFor(rows, grain: max(1, 4096 / n)) { r in
                for i in r {
                    let x = px + i * n, oi = base + i * k, ov = pv + i * k
                    var filled = 0
                    for j in 0..<n {   // insertion into a sorted list of k (k is small)
                        let v = x[j]
                        if filled == k && !(v > ov[k - 1]) { continue }
                        var p = filled == k ? k - 1 : filled
                        while p > 0 && v > ov[p - 1] { ov[p] = ov[p - 1]; oi[p] = oi[p - 1]; p -= 1 }
                        ov[p] = v; oi[p] = j
                        if filled < k { filled += 1 }
                    }
                }
            }
        }
        if Autograd.needs(self) {
            let idx = indices
            Autograd.record(vals) { g in
                accumulate(into: self) { gx, acc in
                    if !acc { gx.update(repeating: 0, count: self.count) }
                    for i in 0..<rows { for s in 0..<k { gx[i * n + idx[i * k + s]] += g.data[i * k + s] } }
                }
            }
        }
        return (vals, indices)
    }
}

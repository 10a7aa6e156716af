// Matrix products on cblas_sgemm: 2-D matmul with transposes, batched matmul, and
// the fused linear layer y = x·Wᵀ + b (PyTorch's weight layout [out, in]).
import Foundation

extension Tensor {
    /// op(A)[M,K] · op(B)[K,N] -> [M,N]. A may have leading dims when not transposed.
    public func matmul(_ b: Tensor, transposeA ta: Bool = false, transposeB tb: Bool = false) throws -> Tensor {
        let a = self
        guard a.ndim >= 2, b.ndim == 2, !(ta && a.ndim != 2) else {
            throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape], expected: "2-D operands (A may have leading dims when not transposed)")
        }
        let aRows = a.count / a.shape[a.ndim - 1], aCols = a.shape[a.ndim - 1]
        let m = ta ? aCols : aRows, k = ta ? aRows : aCols
        let kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1]
        guard k == kb else {
            throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape], expected: "inner dims to agree (\(k) vs \(kb))\(Tensor.transposeNote(ta, tb))")
        }
        let outShape = ta ? [m, n] : Array(a.shape.dropLast()) + [n]
        let out = Tensor(uninitialized: outShape)
        BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: aCols, b: b.data, ldb: b.shape[1], beta: 0, c: out.data, ldc: n)
        if Autograd.needs(a, b) {
            Autograd.record(out) { g in
                // dA = dC·op(B)ᵀ (or op(B)·dCᵀ when A was transposed); dB likewise.
                accumulate(into: a) { ga, acc in
                    if ta { BLAS.sgemm(transA: tb, transB: true, m: k, n: m, k: n, a: b.data, lda: b.shape[1], b: g.data, ldb: n, beta: acc ? 1 : 0, c: ga, ldc: aCols) }
                    else { BLAS.sgemm(transA: false, transB: !tb, m: m, n: k, k: n, a: g.data, lda: n, b: b.data, ldb: b.shape[1], beta: acc ? 1 : 0, c: ga, ldc: aCols) }
                }
                accumulate(into: b) { gb, acc in
                    if tb { BLAS.sgemm(transA: true, transB: ta, m: n, n: k, k: m, a: g.data, lda: n, b: a.data, ldb: aCols, beta: acc ? 1 : 0, c: gb, ldc: b.shape[1]) }
                    else { BLAS.sgemm(transA: !ta, transB: false, m: k, n: n, k: m, a: a.data, lda: aCols, b: g.data, ldb: n, beta: acc ? 1 : 0, c: gb, ldc: b.shape[1]) }
                }
            }
        }
        return out
    }

    static func transposeNote(_ ta: Bool, _ tb: Bool) -> String {
        ta && tb ? " with transposeA and transposeB" : ta ? " with transposeA" : tb ? " with transposeB" : ""
    }

    /// Batched: op(A)[B,M,K] · op(B)[B,K,N] -> [B,M,N]
    public func bmm(_ b: Tensor, transposeA ta: Bool = false, transposeB tb: Bool = false) throws -> Tensor {
        let a = self
        guard a.ndim == 3, b.ndim == 3, a.shape[0] == b.shape[0] else {
            throw TensorError.shapeMismatch(op: "bmm", shapes: [a.shape, b.shape], expected: "[B,M,K] and [B,K,N] with equal B")
        }
        let bs = a.shape[0]
        let m = ta ? a.shape[2] : a.shape[1], k = ta ? a.shape[1] : a.shape[2]
        let kb = tb ? b.shape[2] : b.shape[1], n = tb ? b.shape[1] : b.shape[2]
        guard k == kb else { throw TensorError.shapeMismatch(op: "bmm", shapes: [a.shape, b.shape], expected: "inner dims to agree (\(k) vs \(kb))\(Tensor.transposeNote(ta, tb))") }
        let out = Tensor(uninitialized: [bs, m, n])
        let sa = a.shape[1] * a.shape[2], sb = b.shape[1] * b.shape[2], lda = a.shape[2], ldb = b.shape[2]
        for i in 0..<bs {
            BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data + i * sa, lda: lda, b: b.data + i * sb, ldb: ldb, beta: 0, c: out.data + i * m * n, ldc: n)
        }
        if Autograd.needs(a, b) {
            Autograd.record(out) { g in
                accumulate(into: a) { ga, acc in
                    for i in 0..<bs {
                        let gi = g.data + i * m * n, bi = b.data + i * sb, gai = ga + i * sa
                        if ta { BLAS.sgemm(transA: tb, transB: true, m: k, n: m, k: n, a: bi, lda: ldb, b: gi, ldb: n, beta: acc ? 1 : 0, c: gai, ldc: lda) }
                        else { BLAS.sgemm(transA: false, transB: !tb, m: m, n: k, k: n, a: gi, lda: n, b: bi, ldb: ldb, beta: acc ? 1 : 0, c: gai, ldc: lda) }
                    }
                }
                accumulate(into: b) { gb, acc in
                    for i in 0..<bs {
                        let gi = g.data + i * m * n, ai = a.data + i * sa, gbi = gb + i * sb
                        if tb { BLAS.sgemm(transA: true, transB: ta, m: n, n: k, k: m, a: gi, lda: n, b: ai, ldb: lda, beta: acc ? 1 : 0, c: gbi, ldc: ldb) }
                        else { BLAS.sgemm(transA: !ta, transB: false, m: k, n: n, k: m, a: ai, lda: lda, b: gi, ldb: n, beta: acc ? 1 : 0, c: gbi, ldc: ldb) }
                    }
                }
            }
        }
        return out
    }

    /// y = x·Wᵀ + b. x [*, in], W [out, in], b [out] -> [*, out]
    public func linear(_ w: Tensor, _ bias: Tensor? = nil) throws -> Tensor {
        let x = self
        guard x.ndim >= 1, w.ndim == 2, x.shape[x.ndim - 1] == w.shape[1] else {
            throw TensorError.shapeMismatch(op: "linear", shapes: [x.shape, w.shape], expected: "x [*, in] and weight [out, in] with equal in")
        }
        let fin = w.shape[1], fout = w.shape[0], rows = x.count / max(fin, 1)
        if let b = bias, b.count != fout {
            throw TensorError.shapeMismatch(op: "linear", shapes: [w.shape, b.shape], expected: "bias [\(fout)]")
        }
        let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [fout])
        BLAS.sgemm(transA: false, transB: true, m: rows, n: fout, k: fin, a: x.data, lda: fin, b: w.data, ldb: fin, beta: 0, c: out.data, ldc: fout)
        if let b = bias {   // added after the product (a per-row copy before it was a memmove call per row)
            let po = out.data, pb = b.data
            Engine.parallelFor(rows, grain: max(1, 32_768 / max(fout, 1))) { r in
                for i in r { let o = po + i * fout; for j in 0..<fout { o[j] += pb[j] } }
            }
        }
        let needs = bias.map { Autograd.needs(x, w, $0) } ?? Autograd.needs(x, w)
        if needs {
            Autograd.record(out) { g in
                accumulate(into: x) { gx, acc in   // dx = dy·W
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: fin, k: fout, a: g.data, lda: fout, b: w.data, ldb: fin, beta: acc ? 1 : 0, c: gx, ldc: fin)
                }
                accumulate(into: w) { gw, acc in   // dW = dyᵀ·x
                    BLAS.sgemm(transA: true, transB: false, m: fout, n: fin, k: rows, a: g.data, lda: fout, b: x.data, ldb: fin, beta: acc ? 1 : 0, c: gw, ldc: fin)
                }
                if let b = bias {
                    accumulate(into: b) { gb, acc in
                        if !acc { gb.update(repeating: 0, count: fout) }
                        for r in 0..<rows { let s = g.data + r * fout; for j in 0..<fout { gb[j] += s[j] } }
                    }
                }
            }
        }
        return out
    }
}

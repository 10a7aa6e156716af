// Softmax and log-softmax over the last axis, and fused layer normalisation.
import Foundation

extension Tensor {
    @inline(__always) static func softmaxRow(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let m = Kernels.max(x, n)
        let inv = 1 / Kernels.expShifted(x, y, n, m)
        for j in 0..<n { y[j] *= inv }
    }

    /// softmax over the last axis. [*, n] -> [*, n]
    public func softmax() throws -> Tensor {
        guard ndim >= 1, shape[ndim - 1] > 0 else { throw TensorError.invalidArgument(op: "softmax", message: "needs a non-empty last axis, got \(shapeString(shape))") }
        let n = shape[ndim - 1], rows = count / n
        let out = Tensor(uninitialized: shape)
        let px = data, po = out.data
        Engine.parallelFor(rows, grain: max(1, 16_384 / n)) { r in for i in r { Tensor.softmaxRow(px + i * n, po + i * n, n) } }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    let pg = g.data
                    Engine.parallelFor(rows, grain: max(1, 16_384 / n)) { r in
                        for i in r {
                            let y = po + i * n, gy = pg + i * n, d = gx + i * n
                            var dot: Float = 0
                            for j in 0..<n { dot += gy[j] * y[j] }
                            for j in 0..<n { d[j] = (acc ? d[j] : 0) + y[j] * (gy[j] - dot) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// log-softmax over the last axis. [*, n] -> [*, n]
    public func logSoftmax() throws -> Tensor {
        guard ndim >= 1, shape[ndim - 1] > 0 else { throw TensorError.invalidArgument(op: "logSoftmax", message: "needs a non-empty last axis, got \(shapeString(shape))") }
        let n = shape[ndim - 1], rows = count / n
        let out = Tensor(uninitialized: shape)
        let px = data, po = out.data
        Engine.parallelFor(rows, grain: max(1, 16_384 / n)) { r in
            for i in r {
                let x = px + i * n, y = po + i * n
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, x[j]) }
                var s: Float = 0
                for j in 0..<n { s += FastMath.exp(x[j] - m) }
                let lse = m + Foundation.log(s)
                for j in 0..<n { y[j] = x[j] - lse }
            }
        }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    let pg = g.data
                    for i in 0..<rows {
                        let y = po + i * n, gy = pg + i * n, d = gx + i * n
                        var s: Float = 0
                        for j in 0..<n { s += gy[j] }
                        for j in 0..<n { d[j] = (acc ? d[j] : 0) + gy[j] - FastMath.exp(y[j]) * s }
                    }
                }
            }
        }
        return out
    }

    /// (x − mean)/√(var + eps)·γ + β over the last axis. x [*, D], γ [D], β [D] -> [*, D]
    public func layerNorm(_ gamma: Tensor, _ beta: Tensor, eps: Float = 1e-6) throws -> Tensor {
        guard ndim >= 1, gamma.count == shape[ndim - 1], beta.count == gamma.count else {
            throw TensorError.shapeMismatch(op: "layerNorm", shapes: [shape, gamma.shape, beta.shape], expected: "x [*, D] with γ and β of [D]")
        }
        let d = shape[ndim - 1], rows = count / max(d, 1)
        let out = Tensor(uninitialized: shape)
        let stats = Tensor(uninitialized: [rows, 2])   // mean, rstd
        let px = data, po = out.data, pgm = gamma.data, pbt = beta.data, ps = stats.data
        Engine.parallelFor(rows, grain: max(1, 16_384 / max(d, 1))) { r in
            for i in r {
                let x = px + i * d, y = po + i * d
                let mean = Kernels.sum(x, d) / Float(d)
                let rstd = 1 / (Kernels.centeredSquares(x, d, mean) / Float(d) + eps).squareRoot()
                ps[2 * i] = mean; ps[2 * i + 1] = rstd
                for j in 0..<d { y[j] = (x[j] - mean) * rstd * pgm[j] + pbt[j] }
            }
        }
        if Autograd.needs(self, gamma, beta) {
            Autograd.record(out) { g in
                let pg = g.data, ps = stats.data   // capture stats itself: a raw pointer would not keep it alive
                accumulate(into: self) { gx, acc in
                    Engine.parallelFor(rows, grain: max(1, 16_384 / max(d, 1))) { r in
                        for i in r {
                            let x = px + i * d, gy = pg + i * d, dx = gx + i * d
                            let mean = ps[2 * i], rstd = ps[2 * i + 1]
                            let (s1, s2) = Kernels.productSums(gy, pgm, x, d, mean)   // Σ gy·γ, Σ gy·γ·(x − mean)
                            let m1 = s1 / Float(d), m2 = s2 * rstd / Float(d)
                            for j in 0..<d {
                                let xh = (x[j] - mean) * rstd
                                let v = rstd * (gy[j] * pgm[j] - m1 - xh * m2)
                                dx[j] = (acc ? dx[j] : 0) + v
                            }
                        }
                    }
                }
                if gamma.requiresGrad || beta.requiresGrad {
                    let dg = Tensor(zeros: [d]), db = Tensor(zeros: [d])
                    for i in 0..<rows {
                        let x = px + i * d, gy = pg + i * d
                        let mean = ps[2 * i], rstd = ps[2 * i + 1]
                        for j in 0..<d { dg.data[j] += gy[j] * (x[j] - mean) * rstd; db.data[j] += gy[j] }
                    }
                    accumulate(into: gamma) { gg, acc in for j in 0..<d { gg[j] = (acc ? gg[j] : 0) + dg.data[j] } }
                    accumulate(into: beta) { gb, acc in for j in 0..<d { gb[j] = (acc ? gb[j] : 0) + db.data[j] } }
                }
            }
        }
        return out
    }
}

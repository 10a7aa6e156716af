// Reductions: sum and mean over one axis or over everything (Double accumulators
// for the full sums, so losses are stable).
import Foundation

extension Tensor {
    /// Sum over `axis` (removed from the shape). [.., n, ..] -> [.., ..]
    public func sum(axis: Int) throws -> Tensor {
        let ax = axis < 0 ? axis + ndim : axis
        guard ax >= 0, ax < ndim else { throw TensorError.invalidArgument(op: "sum", message: "axis \(axis) out of range for \(shapeString(shape))") }
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape; outShape.remove(at: ax)
        if outShape.isEmpty { outShape = [1] }
        let out = Tensor(zeros: outShape)
        let px = data, po = out.data
        Engine.parallelFor(outer, grain: max(1, 65_536 / max(n * inner, 1))) { r in
            for o in r {
                let dst = po + o * inner
                for i in 0..<n { let s = px + (o * n + i) * inner; for j in 0..<inner { dst[j] += s[j] } }
            }
        }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    let pg = g.data
                    for o in 0..<outer { for i in 0..<n {
                        let d = gx + (o * n + i) * inner, s = pg + o * inner
                        if acc { for j in 0..<inner { d[j] += s[j] } } else { d.update(from: s, count: inner) }
                    } }
                }
            }
        }
        return out
    }

    public func mean(axis: Int) throws -> Tensor {
        let ax = axis < 0 ? axis + ndim : axis
        guard ax >= 0, ax < ndim else { throw TensorError.invalidArgument(op: "mean", message: "axis \(axis) out of range for \(shapeString(shape))") }
        return try sum(axis: ax).affine(scale: 1 / Float(max(shape[ax], 1)))
    }

    /// Sum of all elements. [S] -> [1]
    public func sum() -> Tensor { scaledTotal(1) }
    /// Mean of all elements. [S] -> [1]
    public func mean() -> Tensor { scaledTotal(1 / Float(max(count, 1))) }

    func scaledTotal(_ scale: Float) -> Tensor {
        var s = 0.0
        let px = data
        for i in 0..<count { s += Double(px[i]) }
        let out = Tensor(repeating: Float(s) * scale, shape: [1])
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                let v = g.data[0] * scale
                accumulate(into: self) { gx, acc in
                    if acc { for i in 0..<self.count { gx[i] += v } } else { gx.update(repeating: v, count: self.count) }
                }
            }
        }
        return out
    }
}

// Shape ops: reshape (a view, no copy), permute, concat and split along an axis.
import Foundation

extension Tensor {
    /// Same storage, new shape; one dimension may be -1. [S] -> [S']
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard rest > 0, count % rest == 0 else { throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape], expected: "a shape with \(count) elements") }
            s[i] = count / rest
        }
        guard s.reduce(1, *) == count, s.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape], expected: "a shape with \(count) elements")
        }
        let out = Tensor(shape: s, storage: storage, requiresGrad: false)
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                guard self.requiresGrad else { return }
                if let gx = self.grad {
                    let pg = g.data, px = gx.data
                    for i in 0..<self.count { px[i] += pg[i] }
                } else {
                    // The first gradient is the output's own buffer seen in this shape: no copy.
                    self.grad = Tensor(shape: self.shape, storage: g.storage, requiresGrad: false)
                }
            }
        }
        return out
    }

    public func reshaped(_ s: Int...) throws -> Tensor { try reshaped(s) }

    /// out.shape[i] = shape[dims[i]] (a copy). [S] -> [S permuted]
    public func permuted(_ dims: [Int]) throws -> Tensor {
        guard dims.count == ndim, Set(dims) == Set(0..<ndim) else {
            throw TensorError.invalidArgument(op: "permute", message: "dims \(dims) are not a permutation of 0..<\(ndim) for shape \(shapeString(shape))")
        }
        let outShape = dims.map { shape[$0] }
        let out = Tensor(uninitialized: outShape)
        Tensor.permuteCopy(src: data, srcShape: shape, dims: dims, dst: out.data, accumulate: false)
        if Autograd.needs(self) {
            var inverse = [Int](repeating: 0, count: dims.count)
            for (i, d) in dims.enumerated() { inverse[d] = i }
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    Tensor.permuteCopy(src: g.data, srcShape: outShape, dims: inverse, dst: gx, accumulate: acc)
                }
            }
        }
        return out
    }

    /// Strided copy; the innermost run is contiguous when the last axis stays last.
    static func permuteCopy(src: UnsafeMutablePointer<Float>, srcShape: [Int], dims: [Int],
                            dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let n = srcShape.count
        var srcStrides = [Int](repeating: 1, count: n)
        for i in stride(from: n - 2, through: 0, by: -1) { srcStrides[i] = srcStrides[i + 1] * srcShape[i + 1] }
        let outShape = dims.map { srcShape[$0] }
        let strides = dims.map { srcStrides[$0] }  // source stride of each output axis
        let total = outShape.reduce(1, *)
        if total == 0 { return }
        let lastLen = outShape[n - 1], lastStride = strides[n - 1]
        let outer = total / lastLen
        // Each outer index is independent: parallel over them.
        Engine.parallelFor(outer, grain: max(1, 16_384 / lastLen)) { range in
            var idx = [Int](repeating: 0, count: n)
            for o in range {
                var rem = o, off = 0
                for a in stride(from: n - 2, through: 0, by: -1) {
                    idx[a] = rem % outShape[a]; rem /= outShape[a]; off += idx[a] * strides[a]
                }
                let d = dst + o * lastLen, s = src + off
                if lastStride == 1 {
                    if accumulate { for j in 0..<lastLen { d[j] += s[j] } } else { d.update(from: s, count: lastLen) }
                } else {
                    if accumulate { for j in 0..<lastLen { d[j] += s[j * lastStride] } } else { for j in 0..<lastLen { d[j] = s[j * lastStride] } }
                }
            }
        }
    }

    /// Swaps two axes (a permute).
    public func transposed(_ a: Int, _ b: Int) throws -> Tensor {
        var d = Array(0..<ndim)
        guard a < ndim, b < ndim, a >= 0, b >= 0 else { throw TensorError.invalidArgument(op: "transpose", message: "axes \(a), \(b) out of range for \(shapeString(shape))") }
        d.swapAt(a, b)
        return try permuted(d)
    }

    /// Joins tensors along `axis`; other dims must agree. [.., a_i, ..] -> [.., Σa_i, ..]
    public static func concat(_ ts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = ts.first else { throw TensorError.invalidArgument(op: "concat", message: "no tensors") }
        let ax = axis < 0 ? axis + first.ndim : axis
        guard ax >= 0, ax < first.ndim else { throw TensorError.invalidArgument(op: "concat", message: "axis \(axis) out of range for \(shapeString(first.shape))") }
        for t in ts {
            var a = t.shape, b = first.shape
            guard a.count == b.count else { throw TensorError.shapeMismatch(op: "concat", shapes: [first.shape, t.shape], expected: "the same rank") }
            a[ax] = 0; b[ax] = 0
            guard a == b else { throw TensorError.shapeMismatch(op: "concat", shapes: [first.shape, t.shape], expected: "equal sizes off axis \(ax)") }
        }
        var outShape = first.shape
        outShape[ax] = ts.reduce(0) { $0 + $1.shape[ax] }
        let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
        let out = Tensor(uninitialized: outShape)
        let rowOut = outShape[ax] * inner
        var off = 0
        var offsets: [Int] = []
        for t in ts {
            offsets.append(off)
            let len = t.shape[ax] * inner
            for o in 0..<outer { (out.data + o * rowOut + off).update(from: t.data + o * len, count: len) }
            off += len
        }
        if ts.contains(where: { Autograd.needs($0) }) {
            Autograd.record(out) { g in
                for (t, off) in zip(ts, offsets) where t.requiresGrad {
                    let len = t.shape[ax] * inner
                    accumulate(into: t) { gt, acc in
                        for o in 0..<outer {
                            let s = g.data + o * rowOut + off, d = gt + o * len
                            if acc { for j in 0..<len { d[j] += s[j] } } else { d.update(from: s, count: len) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Cuts along `axis` into pieces of the given sizes (copies). [.., Σs_i, ..] -> [.., s_i, ..]
    public func split(_ sizes: [Int], axis: Int) throws -> [Tensor] {
        let ax = axis < 0 ? axis + ndim : axis
        guard ax >= 0, ax < ndim else { throw TensorError.invalidArgument(op: "split", message: "axis \(axis) out of range for \(shapeString(shape))") }
        guard sizes.reduce(0, +) == shape[ax], sizes.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch(op: "split", shapes: [shape, sizes], expected: "sizes summing to \(shape[ax]) along axis \(ax)")
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        let rowIn = shape[ax] * inner
        var outs: [Tensor] = []
        var off = 0
        for s in sizes {
            var sh = shape; sh[ax] = s
            let t = Tensor(uninitialized: sh)
            let len = s * inner, o0 = off
            for o in 0..<outer { (t.data + o * len).update(from: data + o * rowIn + o0, count: len) }
            if Autograd.needs(self) {
                Autograd.record(t) { g in
                    accumulate(into: self) { gx, acc in
                        if !acc { gx.update(repeating: 0, count: self.count) }
                        for o in 0..<outer { let d = gx + o * rowIn + o0, sg = g.data + o * len; for j in 0..<len { d[j] += sg[j] } }
                    }
                }
            }
            outs.append(t)
            off += len
        }
        return outs
    }
}

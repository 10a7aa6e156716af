// Elementwise ops with row broadcasting (the smaller operand's shape, leading 1s
// aside, is a suffix of the larger's), scalar ops, unary maths (exp, log, relu, gelu, tanh, sigmoid) and
// per-row scaling. Each op: forward kernel, then its backward on the tape.
import Foundation

enum BinaryKind { case add, sub, mul, div }

extension Tensor {
    // a[S] ⊕ b[S] or a[R×S] ⊕ b[S] or a[S] ⊕ b[R×S] -> [R×S] (leading 1s of the smaller operand ignored)
    func binary(_ kind: BinaryKind, _ b: Tensor, _ op: String) throws -> Tensor {
        let a = self
        // With equal counts the operand of higher rank is the big one ([4] ⊕ [1, 4] -> [1, 4]).
        let aIsBig = a.count > b.count || (a.count == b.count && a.ndim >= b.ndim)
        let big = aIsBig ? a : b, small = aIsBig ? b : a
        let sm = small.shape.count, bg = big.shape.count
        // The smaller shape without its leading 1s must end the larger one: [R, S] ⊕ [S],
        // [B, N, D] ⊕ [1, N, D] (timm's pos_embed), anything ⊕ a single value.
        var core = small.shape[...]
        while core.first == 1 { core = core.dropFirst() }
        let isSuffix = core.count <= bg && big.shape.suffix(core.count).elementsEqual(core)
        guard isSuffix, small.count > 0 || big.count == 0 else {
            throw TensorError.shapeMismatch(op: op, shapes: [a.shape, b.shape], expected: "equal shapes, or one a suffix of the other (row broadcasting)")
        }
        // Extra leading 1s of the smaller operand stay in the result, as in NumPy.
        let out = Tensor(uninitialized: sm > bg ? [Int](repeating: 1, count: sm - bg) + big.shape : big.shape)
        let inner = max(small.count, 1), rows = big.count / inner
        let aBig = a === big || a.count == b.count
        let pa = a.data, pb = b.data, po = out.data
        if a.count == b.count {
            Engine.parallelFor(out.count) { r in
                let x = pa + r.lowerBound, y = pb + r.lowerBound, o = po + r.lowerBound
                Tensor.binaryKernel(kind, x, y, o, r.count)
            }
        } else {
            Engine.parallelFor(rows, grain: max(1, 65_536 / inner)) { range in
                for r in range {
                    let x = aBig ? pa + r * inner : pa, y = aBig ? pb : pb + r * inner
                    Tensor.binaryKernel(kind, x, y, po + r * inner, inner)
                }
            }
        }
        if Autograd.needs(a, b) {
            Autograd.record(out) { g in
                let pg = g.data
                // gradient for an operand: same size -> elementwise; broadcast -> sum over rows
                func give(_ t: Tensor, _ isA: Bool) {
                    guard t.requiresGrad else { return }
                    let broadcast = t.count != out.count
                    accumulate(into: t) { gt, acc in
                        if !acc { gt.update(repeating: 0, count: t.count) }
                        for r in 0..<rows {
                            let gr = pg + r * inner
                            let dst = broadcast ? gt : gt + r * inner
                            let x = aBig ? pa + r * inner : pa, y = aBig ? pb : pb + r * inner
                            switch (kind, isA) {
                            case (.add, _), (.sub, true): for j in 0..<inner { dst[j] += gr[j] }
                            case (.sub, false): for j in 0..<inner { dst[j] -= gr[j] }
                            case (.mul, true): for j in 0..<inner { dst[j] += gr[j] * y[j] }
                            case (.mul, false): for j in 0..<inner { dst[j] += gr[j] * x[j] }
                            case (.div, true): for j in 0..<inner { dst[j] += gr[j] / y[j] }
                            case (.div, false): for j in 0..<inner { dst[j] -= gr[j] * x[j] / (y[j] * y[j]) }
                            }
                        }
                    }
                }
                give(a, true); give(b, false)
            }
        }
        return out
    }

    @inline(__always)
    static func binaryKernel(_ kind: BinaryKind, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        switch kind {
        case .add: for j in 0..<n { o[j] = x[j] + y[j] }
        case .sub: for j in 0..<n { o[j] = x[j] - y[j] }
        case .mul: for j in 0..<n { o[j] = x[j] * y[j] }
        case .div: for j in 0..<n { o[j] = x[j] / y[j] }
        }
    }

    public func add(_ b: Tensor) throws -> Tensor { try binary(.add, b, "add") }
    public func sub(_ b: Tensor) throws -> Tensor { try binary(.sub, b, "sub") }
    public func mul(_ b: Tensor) throws -> Tensor { try binary(.mul, b, "mul") }
    public func div(_ b: Tensor) throws -> Tensor { try binary(.div, b, "div") }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.add(b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.sub(b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.mul(b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.div(b) }

    /// x·scale + shift, elementwise. [S] -> [S]
    public func affine(scale s: Float, shift c: Float = 0) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let px = data, po = out.data
        Engine.parallelFor(count) { r in for i in r { po[i] = px[i] * s + c } }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    let pg = g.data
                    if acc { for i in 0..<self.count { gx[i] += pg[i] * s } } else { for i in 0..<self.count { gx[i] = pg[i] * s } }
                }
            }
        }
        return out
    }

    public static func * (a: Tensor, s: Float) -> Tensor { a.affine(scale: s) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.affine(scale: s) }
    public static func + (a: Tensor, c: Float) -> Tensor { a.affine(scale: 1, shift: c) }
    public static func - (a: Tensor, c: Float) -> Tensor { a.affine(scale: 1, shift: -c) }
    public static prefix func - (a: Tensor) -> Tensor { a.affine(scale: -1) }

    enum UnaryKind { case exp, log, relu, gelu, tanh, sigmoid, square, sqrt, abs }

    // f(x) elementwise. [S] -> [S]
    func unary(_ kind: UnaryKind) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let px = data, po = out.data
        Engine.parallelFor(count) { r in
            let x = px + r.lowerBound, o = po + r.lowerBound, n = r.count
            switch kind {
            case .exp: for i in 0..<n { o[i] = FastMath.exp(x[i]) }
            case .log: for i in 0..<n { o[i] = Foundation.log(x[i]) }
            case .relu: for i in 0..<n { o[i] = Swift.max(x[i], 0) }
            case .gelu: for i in 0..<n { o[i] = FastMath.gelu(x[i]) }
            case .tanh: for i in 0..<n { o[i] = Foundation.tanh(x[i]) }
            case .sigmoid: for i in 0..<n { o[i] = 1 / (1 + FastMath.exp(-x[i])) }
            case .square: for i in 0..<n { o[i] = x[i] * x[i] }
            case .sqrt: for i in 0..<n { o[i] = x[i].squareRoot() }
            case .abs: for i in 0..<n { o[i] = Swift.abs(x[i]) }
            }
        }
        if Autograd.needs(self) {
            Autograd.record(out) { g in
                accumulate(into: self) { gx, acc in
                    let pg = g.data
                    Engine.parallelFor(self.count) { r in
                        // One loop per kind (the switch outside the loop), so each vectorises.
                        let x = px + r.lowerBound, y = po + r.lowerBound, gy = pg + r.lowerBound, d = gx + r.lowerBound
                        let n = r.count
                        // Written (d = …) on a fresh gradient, added (d += …) onto an existing one.
                        @inline(__always) func put(_ f: (Int) -> Float) {
                            if acc { for i in 0..<n { d[i] += f(i) } } else { for i in 0..<n { d[i] = f(i) } }
                        }
                        switch kind {
                        case .exp: put { gy[$0] * y[$0] }
                        case .log: put { gy[$0] / x[$0] }
                        case .relu: put { x[$0] > 0 ? gy[$0] : 0 }
                        case .gelu: put { gy[$0] * FastMath.geluGrad(x[$0]) }
                        case .tanh: put { gy[$0] * (1 - y[$0] * y[$0]) }
                        case .sigmoid: put { gy[$0] * y[$0] * (1 - y[$0]) }
                        case .square: put { gy[$0] * 2 * x[$0] }
                        case .sqrt: put { gy[$0] * 0.5 / y[$0] }
                        case .abs: put { x[$0] > 0 ? gy[$0] : (x[$0] < 0 ? -gy[$0] : 0) }
                        }
                    }
                }
            }
        }
        return out
    }

    public func exp() -> Tensor { unary(.exp) }
    public func log() -> Tensor { unary(.log) }
    public func relu() -> Tensor { unary(.relu) }
    public func gelu() -> Tensor { unary(.gelu) }
    public func tanh() -> Tensor { unary(.tanh) }
    public func sigmoid() -> Tensor { unary(.sigmoid) }
    public func square() -> Tensor { unary(.square) }
    public func sqrt() -> Tensor { unary(.sqrt) }
    public func abs() -> Tensor { unary(.abs) }

    /// out[r, :] = x[r, :] · s[r]: per-row scaling (MoE gates). x [R, C...], s [R] -> [R, C...]
    public func scaleRows(_ s: Tensor) throws -> Tensor {
        guard ndim >= 1, s.count == shape[0], s.ndim == 1 || (s.ndim == 2 && s.shape[1] == 1) else {
            throw TensorError.shapeMismatch(op: "scaleRows", shapes: [shape, s.shape], expected: "scales [\(ndim >= 1 ? shape[0] : 0)] for the rows")
        }
        let rows = shape[0], inner = rows == 0 ? 0 : count / rows
        let out = Tensor(uninitialized: shape)
        let px = data, ps = s.data, po = out.data
        Engine.parallelFor(rows, grain: max(1, 32_768 / max(inner, 1))) { r in
            for i in r { let f = ps[i]; for j in 0..<inner { po[i * inner + j] = px[i * inner + j] * f } }
        }
        if Autograd.needs(self, s) {
            Autograd.record(out) { g in
                let pg = g.data
                accumulate(into: self) { gx, acc in
                    for i in 0..<rows { let f = ps[i]; for j in 0..<inner { let k = i * inner + j; gx[k] = (acc ? gx[k] : 0) + pg[k] * f } }
                }
                accumulate(into: s) { gs, acc in
                    for i in 0..<rows {
                        var d: Float = 0
                        for j in 0..<inner { d += pg[i * inner + j] * px[i * inner + j] }
                        gs[i] = (acc ? gs[i] : 0) + d
                    }
                }
            }
        }
        return out
    }
}

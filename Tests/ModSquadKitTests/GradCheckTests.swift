// Finite-difference gradient checks for every op and layer (with respect to inputs
// and parameters), the fast math kernels against libm, and buffer reuse by the pool.
import Foundation
import XCTest
import SquadTensor
import SquadNN

final class GradCheckTests: XCTestCase {
    override func setUp() { Autograd.reset() }
    override func tearDown() { Autograd.reset() }

    /// Runs GradCheck on `inputs` and asserts it passed, naming the case.
    func check(_ name: String, _ inputs: [Tensor], eps: Float = 1e-2, atol: Float = 1e-3, rtol: Float = 1e-2,
               file: StaticString = #filePath, line: UInt = #line, _ f: () throws -> Tensor) {
        do {
            let report = try GradCheck.check(inputs, eps: eps, atol: atol, rtol: rtol, f)
            XCTAssertTrue(report.passed, "\(name): \(report)", file: file, line: line)
            XCTAssertGreaterThan(report.checked, 0, "\(name): nothing checked", file: file, line: line)
        } catch {
            XCTFail("\(name): threw \(error)", file: file, line: line)
        }
    }

    func normal(_ shape: [Int], _ rng: inout RNG, std: Float = 1) -> Tensor { Tensor.normal(shape, std: std, rng: &rng) }
    func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, _ rng: inout RNG) -> Tensor { Tensor.uniform(shape, lo, hi, rng: &rng) }

    /// Values with |x| in [0.2, 1.2] and random sign: far from a kink at 0 for eps = 1e-2.
    func awayFromZero(_ shape: [Int], _ rng: inout RNG) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = (rng.uniform() < 0.5 ? -1 : 1) * (0.2 + rng.uniform()) }
        return t
    }

    // MARK: elementwise binary ops, every broadcast direction

    func testBinaryOpsWithBroadcasting() throws {
        var rng = RNG(seed: 1)
        // (shape of a, shape of b): same shape, row broadcast either side, leading dims, scalars.
        let cases: [([Int], [Int])] = [
            ([3, 4], [3, 4]), ([3, 4], [4]), ([4], [3, 4]), ([2, 3, 4], [3, 4]), ([3, 4], [2, 3, 4]),
            ([2, 3, 4], [4]), ([4], [2, 3, 4]), ([3, 4], [1]), ([1], [3, 4]), ([1, 4], [4]), ([4], [1, 4]),
            ([2, 3, 4], [1, 3, 4]), ([1, 3, 4], [2, 3, 4]), ([3, 4], [1, 1, 4]), ([1, 1], [2, 3]),
        ]
        let ops: [(String, (Tensor, Tensor) throws -> Tensor)] = [
            ("add", { try $0.add($1) }), ("sub", { try $0.sub($1) }), ("mul", { try $0.mul($1) }), ("div", { try $0.div($1) }),
            ("+", { try $0 + $1 }), ("-", { try $0 - $1 }), ("*", { try $0 * $1 }), ("/", { try $0 / $1 }),
        ]
        for (name, op) in ops {
            for (sa, sb) in cases {
                let a = normal(sa, &rng)
                // Denominators kept away from zero.
                let b = name == "div" || name == "/" ? awayFromZero(sb, &rng).affine(scale: 2) : normal(sb, &rng)
                check("\(name) \(sa) \(sb)", [a, b]) { try op(a, b) }
            }
            // Both operands the same tensor.
            let x = name == "div" || name == "/" ? awayFromZero([3, 4], &rng) : normal([3, 4], &rng)
            check("\(name) x x", [x]) { try op(x, x) }
        }
    }

    func testBinaryOpGradientWhenOnlyOneSideNeedsIt() throws {
        var rng = RNG(seed: 2)
        let a = normal([3, 4], &rng), b = awayFromZero([4], &rng)
        check("div, b constant", [a]) { try a.div(b) }
        let c = normal([3, 4], &rng)
        check("mul, a constant broadcast", [b]) { try c.mul(b) }
    }

    // MARK: unary ops

    func testAffineAndScalarOperators() throws {
        var rng = RNG(seed: 3)
        let x = normal([3, 5], &rng)
        check("affine", [x]) { x.affine(scale: -1.7, shift: 0.3) }
        check("x * s", [x]) { x * 2.5 }
        check("s * x", [x]) { 0.5 * x }
        check("x + c", [x]) { x + 1 }
        check("x - c", [x]) { x - 1 }
        check("-x", [x]) { -x }
    }

    func testUnaryOps() throws {
        var rng = RNG(seed: 4)
        let x = normal([4, 6], &rng)
        let pos = uniform([4, 6], 0.5, 2, &rng)
        let kinked = awayFromZero([4, 6], &rng)
        check("exp", [x]) { x.exp() }
        check("log", [pos]) { pos.log() }
        check("relu", [kinked]) { kinked.relu() }
        check("gelu", [x]) { x.gelu() }
        check("gelu wide", [x]) { x.affine(scale: 3).gelu() }
        check("tanh", [x]) { x.tanh() }
        check("sigmoid", [x]) { x.affine(scale: 2).sigmoid() }
        check("square", [x]) { x.square() }
        check("sqrt", [pos]) { pos.sqrt() }
        check("abs", [kinked]) { kinked.abs() }
        // Fan-out: one tensor feeding two ops accumulates both gradients.
        check("x * exp(x)", [x]) { try x.mul(x.exp()) }
        check("tanh(x) + x^2 chain", [x]) { try x.tanh().add(x.square()).sigmoid() }
    }

    func testScaleRows() throws {
        var rng = RNG(seed: 5)
        let x = normal([4, 3], &rng), s = normal([4], &rng)
        check("scaleRows 2-D", [x, s]) { try x.scaleRows(s) }
        let x3 = normal([3, 2, 4], &rng), s2 = normal([3, 1], &rng)
        check("scaleRows 3-D, s [R,1]", [x3, s2]) { try x3.scaleRows(s2) }
    }

    // MARK: shape ops

    func testShapeOps() throws {
        var rng = RNG(seed: 6)
        let x = normal([2, 3, 4], &rng)
        check("reshaped", [x]) { try x.reshaped([6, 4]).mul(x.reshaped([6, 4])) }   // view, used twice
        check("reshaped -1", [x]) { try x.reshaped(4, -1).exp() }
        check("permuted 3-D", [x]) { try x.permuted([2, 0, 1]) }
        let y = normal([2, 3, 2, 3], &rng)
        check("permuted 4-D", [y]) { try y.permuted([1, 3, 0, 2]) }
        check("permuted last axis kept", [y]) { try y.permuted([2, 0, 1, 3]) }
        check("transposed", [x]) { try x.transposed(0, 2) }
        check("transposed middle", [x]) { try x.transposed(1, 2).square() }
    }

    func testConcatAndSplitAlongMiddleAxis() throws {
        var rng = RNG(seed: 7)
        let a = normal([2, 1, 3], &rng), b = normal([2, 3, 3], &rng), c = normal([2, 2, 3], &rng)
        check("concat axis 1", [a, b, c]) { try Tensor.concat([a, b, c], axis: 1) }
        check("concat axis -1", [a, a]) { try Tensor.concat([a, a.square()], axis: -1) }   // one tensor twice
        check("concat axis 0", [b]) { try Tensor.concat([b, b.exp()], axis: 0) }
        let x = normal([2, 6, 3], &rng)
        for piece in 0..<3 {
            check("split axis 1 piece \(piece)", [x]) { try x.split([1, 3, 2], axis: 1)[piece] }
        }
        check("split pieces recombined", [x]) {
            let p = try x.split([2, 4], axis: 1)
            return try Tensor.concat([p[1].square(), p[0]], axis: 1)
        }
        check("split axis -1", [x]) { try x.split([1, 2], axis: -1)[1] }
    }

    // MARK: reductions

    func testReductions() throws {
        var rng = RNG(seed: 8)
        let x = normal([2, 3, 4], &rng)
        for axis in [0, 1, 2, -1] {
            check("sum axis \(axis)", [x]) { try x.sum(axis: axis) }
            check("mean axis \(axis)", [x]) { try x.mean(axis: axis) }
        }
        let v = normal([5], &rng)
        check("sum axis 0 of 1-D", [v]) { try v.sum(axis: 0) }
        check("sum()", [x]) { x.sum() }
        check("mean()", [x]) { x.mean() }
        check("mean() of a product", [x]) { try x.mul(x.tanh()).mean() }
    }

    // MARK: matrix products

    func testMatmulAllTransposes() throws {
        var rng = RNG(seed: 9)
        let m = 3, k = 4, n = 5
        for ta in [false, true] {
            for tb in [false, true] {
                let a = normal(ta ? [k, m] : [m, k], &rng), b = normal(tb ? [n, k] : [k, n], &rng)
                check("matmul ta \(ta) tb \(tb)", [a, b]) { try a.matmul(b, transposeA: ta, transposeB: tb) }
            }
        }
        // Leading dims on A.
        let a3 = normal([2, 3, 4], &rng), b = normal([4, 5], &rng), bt = normal([5, 4], &rng)
        check("matmul batched A", [a3, b]) { try a3.matmul(b) }
        check("matmul batched A, tb", [a3, bt]) { try a3.matmul(bt, transposeB: true) }
        let sq = normal([4, 4], &rng)
        check("matmul x x", [sq]) { try sq.matmul(sq) }
        check("matmul x xT", [sq]) { try sq.matmul(sq, transposeB: true) }
    }

    func testBmmAllTransposes() throws {
        var rng = RNG(seed: 10)
        let bs = 2, m = 3, k = 4, n = 2
        for ta in [false, true] {
            for tb in [false, true] {
                let a = normal(ta ? [bs, k, m] : [bs, m, k], &rng), b = normal(tb ? [bs, n, k] : [bs, k, n], &rng)
                check("bmm ta \(ta) tb \(tb)", [a, b]) { try a.bmm(b, transposeA: ta, transposeB: tb) }
            }
        }
    }

    func testLinear() throws {
        var rng = RNG(seed: 11)
        let x = normal([4, 3], &rng), w = normal([5, 3], &rng), b = normal([5], &rng)
        check("linear with bias", [x, w, b]) { try x.linear(w, b) }
        check("linear no bias", [x, w]) { try x.linear(w) }
        let x3 = normal([2, 3, 3], &rng)
        check("linear 3-D x", [x3, w, b]) { try x3.linear(w, b) }
        check("linear bias used twice", [x, w, b]) { try x.linear(w, b).add(b) }
    }

    // MARK: softmax, layer norm, attention

    func testSoftmaxFamily() throws {
        var rng = RNG(seed: 12)
        let x = normal([3, 5], &rng, std: 2)
        check("softmax", [x]) { try x.softmax() }
        check("logSoftmax", [x]) { try x.logSoftmax() }
        let x3 = normal([2, 2, 4], &rng)
        check("softmax 3-D", [x3]) { try x3.softmax() }
        check("logSoftmax 3-D", [x3]) { try x3.logSoftmax() }
        let big = normal([2, 4], &rng, std: 1).affine(scale: 1, shift: 50)   // stability
        check("softmax shifted", [big]) { try big.softmax() }
    }

    func testLayerNorm() throws {
        var rng = RNG(seed: 13)
        let x = normal([4, 6], &rng), g = normal([6], &rng), b = normal([6], &rng)
        check("layerNorm", [x, g, b]) { try x.layerNorm(g, b) }
        let x3 = normal([2, 3, 5], &rng, std: 3), g5 = normal([5], &rng), b5 = normal([5], &rng)
        check("layerNorm 3-D eps 1e-5", [x3, g5, b5]) { try x3.layerNorm(g5, b5, eps: 1e-5) }
    }

    func testAttention() throws {
        var rng = RNG(seed: 14)
        let g = 2, nq = 3, nk = 5, d = 4, dv = 2
        let q = normal([g, nq, d], &rng), k = normal([g, nk, d], &rng), v = normal([g, nk, dv], &rng)
        check("attention Nq≠Nk dv≠d", [q, k, v]) { try Tensor.attention(q, k, v) }
        check("attention scale 0.9", [q, k, v]) { try Tensor.attention(q, k, v, scale: 0.9) }
        check("attention only k", [k]) { try Tensor.attention(q, k, v) }
        check("attention only v", [v]) { try Tensor.attention(q, k, v) }
        let x = normal([2, 4, 3], &rng)
        check("attention q = k = v", [x]) { try Tensor.attention(x, x, x) }
        check("attention k = v", [q, k]) { try Tensor.attention(q, k, k) }
        // Output used downstream (gradient arrives accumulated).
        check("attention then square", [q, k, v]) { try Tensor.attention(q, k, v).square() }
    }

    // MARK: index ops

    func testGatherAndScatterWithRepeatedIndices() throws {
        var rng = RNG(seed: 15)
        let x = normal([4, 3], &rng)
        check("gatherRows repeated", [x]) { try x.gatherRows([1, 3, 1, 0, 1]) }
        let x3 = normal([4, 2, 3], &rng)
        check("gatherRows 3-D", [x3]) { try x3.gatherRows([2, 2, 0]) }
        let src = normal([5, 3], &rng)
        check("scatterAddRows repeated", [src]) { try src.scatterAddRows([2, 0, 2, 2, 1], rows: 4) }
        let src3 = normal([3, 2, 2], &rng)
        check("scatterAddRows 3-D", [src3]) { try src3.scatterAddRows([1, 1, 0], rows: 2) }
        check("gather then scatter", [x]) { try x.gatherRows([0, 2, 2]).square().scatterAddRows([3, 3, 1], rows: 4) }
    }

    func testTopkValues() throws {
        var rng = RNG(seed: 16)
        // Distinct values 0.1 apart (shuffled), so a 1e-2 nudge never reorders them.
        let rows = 3, n = 6
        let x = Tensor(uninitialized: [rows, n])
        for r in 0..<rows {
            let p = rng.permutation(n)
            for j in 0..<n { x.data[r * n + j] = Float(p[j]) * 0.1 - 0.3 + 0.01 * rng.uniform() }
        }
        for k in [1, 2, 4, 6] {
            check("topk k \(k)", [x]) { try x.topk(k).values }
        }
        check("topk then softmax", [x]) { try x.topk(3).values.softmax() }
    }

    // MARK: losses

    func testCrossEntropyWithIgnoredRow() throws {
        var rng = RNG(seed: 17)
        let logits = normal([4, 5], &rng, std: 2)
        check("crossEntropy", [logits]) { try logits.crossEntropy([1, 0, 4, 2]) }
        check("crossEntropy ignored row", [logits]) { try logits.crossEntropy([1, -100, 4, 0]) }
        check("crossEntropy custom ignoreIndex", [logits]) { try logits.crossEntropy([3, 3, 4, 0], ignoreIndex: 3) }
        check("crossEntropy scaled downstream", [logits]) { try logits.crossEntropy([1, 2, 3, -100]).affine(scale: 3) }
    }

    func testPairLosses() throws {
        var rng = RNG(seed: 18)
        let a = normal([3, 4], &rng), b = normal([3, 4], &rng)
        check("mseLoss", [a, b]) { try a.mseLoss(b) }
        let base = normal([3, 4], &rng), diff = awayFromZero([3, 4], &rng)
        let c = try base.add(diff)   // c − base stays away from 0
        check("l1Loss", [c, base]) { try c.l1Loss(base) }
        check("cosineLoss", [a, b]) { try a.cosineLoss(b) }
        let a3 = normal([2, 2, 5], &rng), b3 = normal([2, 2, 5], &rng)
        check("cosineLoss 3-D", [a3, b3]) { try a3.cosineLoss(b3) }
        check("cosineLoss vs constant", [a]) { try a.cosineLoss(b) }
    }

    // MARK: layers (inputs and parameters)

    /// Overwrites every parameter with Normal(0, std), so gradients are not trivially small.
    func randomize(_ m: Module, _ rng: inout RNG, std: Float = 0.5) {
        for p in m.parameters() {
            for i in 0..<p.tensor.count { p.tensor.data[i] = std * rng.normal() }
        }
    }

    func params(_ m: Module) -> [Tensor] { m.parameters().map(\.tensor) }

    func testLinearLayer() throws {
        var rng = RNG(seed: 20)
        let lin = Linear(4, 3, rng: &rng); randomize(lin, &rng)
        let x = normal([2, 5, 4], &rng)
        check("Linear", [x] + params(lin)) { try lin(x) }
        let nob = Linear(4, 3, bias: false, rng: &rng); randomize(nob, &rng)
        check("Linear no bias", [x] + params(nob)) { try nob(x) }
    }

    func testLayerNormLayer() throws {
        var rng = RNG(seed: 21)
        let ln = LayerNorm(5); randomize(ln, &rng, std: 1)
        let x = normal([3, 5], &rng, std: 2)
        check("LayerNorm", [x] + params(ln)) { try ln(x) }
    }

    func testEmbeddingLayer() throws {
        var rng = RNG(seed: 22)
        let emb = Embedding(5, 3, rng: &rng); randomize(emb, &rng)
        check("Embedding", params(emb)) { try emb([4, 0, 4, 2, 4]) }
    }

    func testMLPLayer() throws {
        var rng = RNG(seed: 23)
        let mlp = MLP(4, hidden: 6, rng: &rng); randomize(mlp, &rng)
        let x = normal([3, 4], &rng)
        check("MLP", [x] + params(mlp)) { try mlp(x) }
    }

    func testMultiHeadAttentionLayer() throws {
        var rng = RNG(seed: 24)
        let mha = MultiHeadAttention(6, heads: 2, rng: &rng); randomize(mha, &rng)
        let x = normal([2, 3, 6], &rng)
        check("MultiHeadAttention", [x] + params(mha)) { try mha(x) }
        // heads × headDim ≠ dim.
        let wide = MultiHeadAttention(4, heads: 2, headDim: 3, rng: &rng); randomize(wide, &rng)
        let y = normal([1, 4, 4], &rng)
        check("MultiHeadAttention headDim 3", [y] + params(wide)) { try wide(y) }
    }

    func testPatchEmbeddingLayer() throws {
        var rng = RNG(seed: 25)
        let pe = try PatchEmbedding(image: 4, patch: 2, channels: 2, dim: 3, rng: &rng); randomize(pe, &rng)
        let x = normal([2, 2, 4, 4], &rng)
        check("PatchEmbedding", [x] + params(pe)) { try pe(x) }
    }

    func testPositionEmbeddingLayer() throws {
        var rng = RNG(seed: 26)
        let pos = PositionEmbedding(3, 4, rng: &rng); randomize(pos, &rng)
        let x = normal([2, 3, 4], &rng)
        check("PositionEmbedding", [x] + params(pos)) { try pos(x) }
    }

    func testSmallViTBlockComposition() throws {
        var rng = RNG(seed: 27)
        let ln = LayerNorm(4), mha = MultiHeadAttention(4, heads: 2, rng: &rng), mlp = MLP(4, hidden: 8, rng: &rng)
        randomize(ln, &rng, std: 1); randomize(mha, &rng); randomize(mlp, &rng)
        let x = normal([1, 3, 4], &rng)
        check("pre-norm block", [x] + params(ln) + params(mha) + params(mlp)) {
            let h = try x.add(mha(ln(x)))
            return try h.add(mlp(h))
        }
    }

    // MARK: fast math against libm

    func testFastMathAgainstLibm() throws {
        // exp: relative error over a dense grid of the unclamped range, and finer near 0.
        var worstExp = 0.0, worstExpAt: Float = 0
        func checkExp(_ x: Float) {
            let exact = Foundation.exp(Double(x))
            let rel = Swift.abs(Double(FastMath.exp(x)) - exact) / exact
            if rel > worstExp { worstExp = rel; worstExpAt = x }
        }
        var x: Float = -87
        while x <= 88 { checkExp(x); x += 1.0 / 512 + 1e-5 }
        for i in -200_000...200_000 { checkExp(Float(i) * 1e-5) }
        XCTAssertLessThanOrEqual(worstExp, 2e-7, "FastMath.exp worst relative error \(worstExp) at \(worstExpAt)")

        // erf: absolute error.
        var worstErf = 0.0, worstErfAt: Float = 0
        for i in -600_000...600_000 {
            let x = Float(i) * 1e-5
            let err = Swift.abs(Double(FastMath.erf(x)) - Foundation.erf(Double(x)))
            if err > worstErf { worstErf = err; worstErfAt = x }
        }
        XCTAssertLessThanOrEqual(worstErf, 1e-6, "FastMath.erf worst absolute error \(worstErf) at \(worstErfAt)")

        // GELU against 0.5·x·(1 + erf(x/√2)) in Double with libm's erf, scalar and through the op.
        var worstGelu = 0.0, worstGeluAt: Float = 0
        let grid = (-40_000...40_000).map { Float($0) * 2.5e-4 }   // [-10, 10]
        let viaOp = Tensor(grid).gelu()
        for (j, x) in grid.enumerated() {
            let xd = Double(x)
            let exact = 0.5 * xd * (1 + Foundation.erf(xd / 2.0.squareRoot()))
            let err = Swift.max(Swift.abs(Double(FastMath.gelu(x)) - exact), Swift.abs(Double(viaOp.data[j]) - exact))
            if err > worstGelu { worstGelu = err; worstGeluAt = x }
        }
        XCTAssertLessThanOrEqual(worstGelu, 1e-6, "gelu worst absolute error \(worstGelu) at \(worstGeluAt)")

        // The exp op uses the same kernel.
        let e = Tensor([-3, -0.5, 0, 0.25, 7]).exp()
        for (i, v) in [Float(-3), -0.5, 0, 0.25, 7].enumerated() {
            XCTAssertEqual(Double(e.data[i]), Foundation.exp(Double(v)), accuracy: 2e-7 * Foundation.exp(Double(v)))
        }
    }

    // MARK: buffer pool

    func testTrainingStepReusesPooledBuffers() throws {
        var rng = RNG(seed: 30)
        let mlp = MLP(8, hidden: 16, rng: &rng)
        let x = normal([4, 8], &rng), target = normal([4, 8], &rng)
        func step() throws {
            mlp.zeroGrad()
            let loss = try mlp(x).mseLoss(target)
            try loss.backward()
        }
        Autograd.reset()
        try step(); try step()
        let before = BufferPool.shared.statistics.freshAllocations
        try step()
        let after = BufferPool.shared.statistics.freshAllocations
        XCTAssertEqual(after, before, "a warmed-up step made \(after - before) new allocations")
        XCTAssertNotNil(mlp.fc1.weight.grad)
        XCTAssertEqual(Autograd.recordedOps, 0, "backward leaves the tape empty")
    }
}

// MoE layers against the dense "every expert on every token, masked by the gates"
// computation (outputs and every gradient), routing and dispatch, the MI loss.
import XCTest
import SquadTensor
import SquadNN
@testable import ModSquad

/// Gradients of every tensor in `ts` after backward of Σ f()⊙w.
private func gradients(_ ts: [Tensor], w: Tensor, _ f: () throws -> Tensor) throws -> (Tensor, [Tensor]) {
    for t in ts { t.grad = nil }
    let y = try f()
    try y.backward(seed: w)
    let gs = ts.map { $0.grad?.copy() ?? Tensor(zeros: $0.shape) }
    for t in ts { t.grad = nil }
    return (y.copy(), gs)
}

/// Full gate matrix [R, E] from a routing record: p(e) on chosen experts, 0 elsewhere (optionally renormalised).
private func denseGates(_ rec: RouterRecord, renormalize: Bool) throws -> Tensor {
    let r = rec.probs.shape[0], e = rec.probs.shape[1]
    let mask = Tensor(zeros: [r, e])
    for i in 0..<r { for j in 0..<rec.topK { mask.data[i * e + rec.routerChoices[i * rec.topK + j]] = 1 } }
    let g = try rec.probs.mul(mask)
    guard renormalize else { return g }
    return try g.scaleRows(Tensor(repeating: 1, shape: [r]).div(g.sum(axis: 1)))
}

private func expertSlice(_ w: Tensor, _ e: Int) throws -> Tensor {
    try w.split([Int](repeating: 1, count: w.shape[0]), axis: 0)[e].reshaped(Array(w.shape.dropFirst()))
}

final class MoETests: XCTestCase {
    let segs = [TaskSegment(task: "a", start: 0, count: 6), TaskSegment(task: "b", start: 6, count: 6)]

    func checkMoEMLP(renormalize: Bool) throws {
        var rng = RNG(seed: 11)
        let layer = MoEMLP(dim: 8, hidden: 12, experts: 4, tasks: ["a", "b"], gate: GateOptions(topK: 2, renormalize: renormalize), rng: &rng)
        for p in layer.parameters() { let n = Tensor.normal(p.tensor.shape, std: 0.5, rng: &rng); try p.tensor.assign(n) }
        let x = Tensor.normal([12, 8], rng: &rng, requiresGrad: true)
        let w = Tensor.uniform([12, 8], -1, 1, rng: &rng)
        let params = [x] + layer.parameters().map(\.tensor)
        let (ys, gs) = try gradients(params, w: w) { try layer(x, segments: segs, layer: "l", rng: &rng).0 }
        let (yd, gd) = try gradients(params, w: w) {
            let (rec, _) = try layer.router.route(x, segments: segs, layer: "l", rng: &rng)
            let cols = try denseGates(rec, renormalize: renormalize).split([1, 1, 1, 1], axis: 1)
            var y: Tensor? = nil
            for e in 0..<4 {
                let h = try x.matmul(expertSlice(layer.w1, e)).add(expertSlice(layer.b1, e)).gelu()
                let o = try h.matmul(expertSlice(layer.w2, e)).add(expertSlice(layer.b2, e)).scaleRows(cols[e])
                y = try y.map { try $0.add(o) } ?? o
            }
            return y!
        }
        assertClose(ys, yd, atol: 1e-5, rtol: 1e-4, "output")
        for (i, (a, b)) in zip(gs, gd).enumerated() { assertClose(a, b, atol: 1e-5, rtol: 1e-4, "gradient of \(i == 0 ? "x" : layer.parameters()[i - 1].name)") }
    }

    func testMoEMLPSparseEqualsDenseMasked() throws { try checkMoEMLP(renormalize: false) }
    func testMoEMLPSparseEqualsDenseMaskedRenormalized() throws { try checkMoEMLP(renormalize: true) }

    /// capacity: MoA's capacity factor; its dropped (token, slot) pairs are masked out of the dense reference.
    func checkMoA(headsPerExpert h: Int, bias: Bool, capacity: Float = 0) throws {
        var rng = RNG(seed: 12)
        let g = 4, n = 3, d = 8, dh = 3, f = h * dh, e = 4
        let layer = MoAttention(dim: d, experts: e, headsPerExpert: h, headDim: dh, expertBias: bias, tasks: ["a", "b"],
                                gate: GateOptions(topK: 2, capacityFactor: capacity), rng: &rng)
        for p in layer.parameters() { try p.tensor.assign(Tensor.normal(p.tensor.shape, std: 0.5, rng: &rng)) }
        let x = Tensor.normal([g, n, d], rng: &rng, requiresGrad: true)
        let w = Tensor.uniform([g, n, d], -1, 1, rng: &rng)
        let segs = [TaskSegment(task: "a", start: 0, count: 6), TaskSegment(task: "b", start: 6, count: 6)]
        let params = [x] + layer.parameters().map(\.tensor)
        let (ys, gs) = try gradients(params, w: w) { try layer(x, segments: segs, layer: "l", rng: &rng).0 }
        let (yd, gd) = try gradients(params, w: w) {
            let xf = try x.reshaped([g * n, d])
            let (rec, _) = try layer.router.route(xf, segments: segs, layer: "l", rng: &rng)
            var gates = try denseGates(rec, renormalize: false)
            if capacity > 0 {
                let cap = Dispatch.capacity(factor: capacity, pairs: rec.choices.count, experts: e)
                let kept = Dispatch(choices: rec.choices, topK: 2, experts: e, capacity: cap)
                XCTAssertGreaterThan(kept.dropped, 0, "the capacity drops some pairs")
                let mask = Tensor(repeating: 1, shape: [g * n, e])
                for (p, s) in kept.inverse.enumerated() where s < 0 { mask.data[(p / 2) * e + rec.choices[p]] = 0 }
                gates = try gates.mul(mask)
            }
            let cols = try gates.split([1, 1, 1, 1], axis: 1)
            let kv = try layer.kv(xf).reshaped([g, n, 2, h, dh]).permuted([2, 0, 3, 1, 4]).split([1, 1], axis: 0).map { try $0.reshaped([g * h, n, dh]) }
            var y: Tensor? = nil
            for ex in 0..<e {
                var q = try xf.matmul(expertSlice(layer.wq, ex))
                if let bq = layer.bq { q = try q.add(expertSlice(bq, ex)) }
                q = try q.reshaped([g, n, h, dh]).permuted([0, 2, 1, 3]).reshaped([g * h, n, dh])
                let o = try Tensor.attention(q, kv[0], kv[1]).reshaped([g, h, n, dh]).permuted([0, 2, 1, 3]).reshaped([g * n, f])
                var out = try o.matmul(expertSlice(layer.wo, ex))
                if let bo = layer.bo { out = try out.add(expertSlice(bo, ex)) }
                out = try out.scaleRows(cols[ex])
                y = try y.map { try $0.add(out) } ?? out
            }
            return try y!.reshaped([g, n, d])
        }
        assertClose(ys, yd, atol: 1e-5, rtol: 1e-4, "output")
        for (i, (a, b)) in zip(gs, gd).enumerated() { assertClose(a, b, atol: 1e-5, rtol: 1e-4, "gradient of \(i == 0 ? "x" : layer.parameters()[i - 1].name)") }
    }

    func testMoASparseEqualsDenseMaskedSingleHeadExperts() throws { try checkMoA(headsPerExpert: 1, bias: false) }
    func testMoASparseEqualsDenseMaskedMultiHeadExpertsWithBias() throws { try checkMoA(headsPerExpert: 2, bias: true) }
    func testMoAWithCapacityDropsPairsLikeZeroGates() throws { try checkMoA(headsPerExpert: 2, bias: true, capacity: 0.5) }

    func testDispatchIsAStableGroupingAndCapacityDrops() {
        // 3 tokens, k = 2: choices (token, slot) -> expert
        let d = Dispatch(choices: [2, 0, 0, 1, 2, 0], topK: 2, experts: 3)
        XCTAssertEqual(d.sizes, [3, 1, 2])
        XCTAssertEqual(d.order, [1, 2, 5, 3, 0, 4])
        XCTAssertEqual(d.token, [0, 1, 2, 1, 0, 2])
        XCTAssertEqual(d.dropped, 0)
        for (s, p) in d.order.enumerated() { XCTAssertEqual(d.inverse[p], s) }
        let c = Dispatch(choices: [2, 0, 0, 1, 2, 0], topK: 2, experts: 3, capacity: 2)
        XCTAssertEqual(c.sizes, [2, 1, 2])
        XCTAssertEqual(c.dropped, 1)
        XCTAssertEqual(c.inverse[5], -1, "the third pair routed to expert 0 overflows")
        let x = Dispatch(choices: [-1, 0, 1, -1], topK: 2, experts: 2)
        XCTAssertEqual(x.dropped, 2); XCTAssertEqual(x.sizes, [1, 1])
        XCTAssertEqual(Dispatch.capacity(factor: 1.0, pairs: 6, experts: 3), 2)
        XCTAssertEqual(Dispatch.capacity(factor: 0, pairs: 6, experts: 3), 0)
    }

    func testCapacityFactorReportsDroppedTokens() throws {
        var rng = RNG(seed: 13)
        let layer = MoEMLP(dim: 8, hidden: 8, experts: 4, tasks: ["a", "b"], gate: GateOptions(topK: 2, capacityFactor: 0.5), rng: &rng)
        let x = Tensor.normal([12, 8], rng: &rng)
        let (_, rec) = try layer(x, segments: segs, layer: "l", rng: &rng)
        XCTAssertGreaterThanOrEqual(rec.dropped, 12, "24 pairs, capacity 3 per expert → at least 12 dropped")
    }

    func testRouterGatesAreRawProbabilitiesOfTopK() throws {
        var rng = RNG(seed: 14)
        let r = Router(dim: 4, experts: 5, tasks: ["a", "b"], options: GateOptions(topK: 2), rng: &rng)
        let x = Tensor.normal([12, 4], rng: &rng)
        let (rec, gates) = try r.route(x, segments: segs, layer: "l", rng: &rng)
        for row in 0..<12 {
            let task = row < 6 ? "a" : "b"
            var logits = [Float](repeating: 0, count: 5)
            for e in 0..<5 { for i in 0..<4 { logits[e] += x.data[row * 4 + i] * r.weights[task]!.data[i * 5 + e] } }
            let m = logits.max()!, z = logits.map { Foundation.exp($0 - m) }.reduce(0, +)
            let p = logits.map { Foundation.exp($0 - m) / z + 1e-4 }
            let top = (0..<5).sorted { p[$0] > p[$1] }.prefix(2)
            XCTAssertEqual(Array(rec.choices[(row * 2)..<(row * 2 + 2)]), Array(top))
            for (j, e) in top.enumerated() { XCTAssertEqual(gates.data[row * 2 + j], p[e], accuracy: 1e-6) }
        }
    }

    // MARK: MI loss

    /// Two tasks each using its own expert: P(t,e) = ½ on the diagonal.
    func testMILossHandComputed() throws {
        let a = try Tensor([10, 0, 0, 10], shape: [2, 2])
        let l = try AuxLoss.mutualInformation(a, tokens: 20)
        let p = 10 / (20 + 1e-4), pt = p + 1e-4
        let expected = -2 * p * Foundation.log(p / (pt * pt) + 1e-4)   // off-diagonal terms are 0
        XCTAssertEqual(Double(l.scalar), expected, accuracy: 1e-6)
        XCTAssertEqual(Double(l.scalar), -Foundation.log(2.0), accuracy: 1e-3, "≈ −I(T;E) = −log 2 for perfect specialisation")
        // Uniform use: MI ≈ 0
        let u = try AuxLoss.mutualInformation(Tensor([5, 5, 5, 5], shape: [2, 2]), tokens: 20)
        XCTAssertEqual(Double(u.scalar), 0, accuracy: 1e-3)
    }

    func testMILossGradientAndNumpyFixture() throws {
        var rng = RNG(seed: 15)
        let a = Tensor.uniform([3, 5], 0.5, 4, rng: &rng)
        let report = try GradCheck.check([a], eps: 1e-2, atol: 1e-4, rtol: 1e-2) { try AuxLoss.mutualInformation(a, tokens: 20) }
        XCTAssertTrue(report.passed, "\(report)")
        // Values and gradient computed in float64 numpy from the spec's formula (Tests/Fixtures/make_model_fixtures.py).
        let fa = try NPY.read(Fixtures.url("model/mi_A.npy"))
        let fl = try NPY.read(Fixtures.url("model/mi_loss.npy"))
        let fg = try NPY.read(Fixtures.url("model/mi_grad.npy"))
        let n = try NPY.read(Fixtures.url("model/mi_N.npy"))
        fa.requiresGrad = true
        let l = try AuxLoss.mutualInformation(fa, tokens: Int(n.scalar))
        XCTAssertEqual(l.scalar, fl.scalar, accuracy: 1e-5)
        try l.backward()
        assertClose(fa.grad!, fg, atol: 1e-6, rtol: 1e-4, "dMI/dA")
    }

    func testRouterStatisticsLossesHaveGradients() throws {
        var rng = RNG(seed: 16)
        let r = Router(dim: 4, experts: 3, tasks: ["a", "b"], options: GateOptions(topK: 1), rng: &rng)
        for t in ["a", "b"] { try r.weights[t]!.assign(Tensor.normal([4, 3], std: 0.7, rng: &rng)) }
        let x = Tensor.normal([12, 4], rng: &rng)
        for (name, f) in [("switch", AuxLoss.switchBalance), ("z", AuxLoss.zLoss), ("mi", AuxLoss.mutualInformation)] as [(String, (RouterRecord) throws -> Tensor)] {
            let report = try GradCheck.check([r.weights["a"]!, r.weights["b"]!], eps: 1e-2, atol: 1e-4, rtol: 2e-2) {
                try f(r.route(x, segments: segs, layer: "l", rng: &rng).0)
            }
            XCTAssertTrue(report.passed, "\(name): \(report)")
        }
    }
}

final class ReferenceMITests: XCTestCase {
    /// The PyTorch reference's MI estimate (an option: miEstimator "reference"), against its own values.
    func testReferenceMIMatchesThePyTorchReference() throws {
        let p = try NPY.read(Fixtures.url("model/ref_mi_p.npy"))
        let want = try NPY.read(Fixtures.url("model/ref_mi_loss.npy"))
        let wantGrad = try NPY.read(Fixtures.url("model/ref_mi_grad.npy"))
        p.requiresGrad = true
        let l = try AuxLoss.mutualInformationUniformTasks(p)
        XCTAssertEqual(l.scalar, want.scalar, accuracy: 1e-5)
        try l.backward()
        assertClose(p.grad!, wantGrad, atol: 1e-5, rtol: 1e-4, "dMI/dP(e|t) against torch autograd")
        // Both estimators agree on what is better: specialised usage has lower (more negative) loss.
        let spec = try Tensor([1, 0, 0, 1], shape: [2, 2]), flat = try Tensor([0.5, 0.5, 0.5, 0.5], shape: [2, 2])
        XCTAssertLessThan(try AuxLoss.mutualInformationUniformTasks(spec).scalar, try AuxLoss.mutualInformationUniformTasks(flat).scalar)
    }
}

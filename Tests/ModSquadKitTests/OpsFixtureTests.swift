// Forward values, and for some ops the input gradients of L = Σ out ⊙ w, against
// float64 numpy references (Tests/Fixtures/make_op_fixtures.py, saved as float32).
import Foundation
import XCTest
import SquadTensor
import SquadNN

final class OpsFixtureTests: XCTestCase {
    override func setUp() { Autograd.reset() }
    override func tearDown() { Autograd.reset() }

    func load(_ name: String) throws -> Tensor {
        try NPY.read(Fixtures.url("ops/\(name).npy"))
    }

    func ints(_ t: Tensor) -> [Int] { t.array.map { Int($0) } }

    /// Makes these tensors leaves that take gradients (no stale grad).
    func leaves(_ ts: Tensor...) { for t in ts { t.requiresGrad = true; t.grad = nil } }

    func grad(_ t: Tensor, file: StaticString = #filePath, line: UInt = #line) -> Tensor {
        guard let g = t.grad else { XCTFail("no gradient", file: file, line: line); return Tensor(zeros: t.shape) }
        return g
    }

    func testGelu() throws {
        let x = try load("gelu_x"), w = try load("gelu_w")
        leaves(x)
        let y = x.gelu()
        assertClose(y, try load("gelu_y"), atol: 1e-6, rtol: 1e-6, "gelu")
        try y.backward(seed: w)
        assertClose(grad(x), try load("gelu_dx"), atol: 2e-6, rtol: 1e-5, "gelu dx")
    }

    func testSoftmaxAndLogSoftmax() throws {
        let x = try load("softmax_x"), w = try load("softmax_w")
        leaves(x)
        let y = try x.softmax()
        assertClose(y, try load("softmax_y"), atol: 1e-6, rtol: 1e-5, "softmax")
        try y.backward(seed: w)
        assertClose(grad(x), try load("softmax_dx"), atol: 1e-6, rtol: 1e-4, "softmax dx")

        x.grad = nil
        let ly = try x.logSoftmax()
        assertClose(ly, try load("logsoftmax_y"), atol: 1e-5, rtol: 1e-5, "logSoftmax")
        try ly.backward(seed: w)
        assertClose(grad(x), try load("logsoftmax_dx"), atol: 1e-5, rtol: 1e-4, "logSoftmax dx")
    }

    func testLayerNorm() throws {
        let x = try load("layernorm_x"), g = try load("layernorm_gamma"), b = try load("layernorm_beta"), w = try load("layernorm_w")
        leaves(x, g, b)
        let y = try x.layerNorm(g, b)
        assertClose(y, try load("layernorm_y"), atol: 1e-5, rtol: 1e-4, "layerNorm")
        try y.backward(seed: w)
        assertClose(grad(x), try load("layernorm_dx"), atol: 1e-5, rtol: 1e-4, "layerNorm dx")
        assertClose(grad(g), try load("layernorm_dgamma"), atol: 1e-5, rtol: 1e-4, "layerNorm dgamma")
        assertClose(grad(b), try load("layernorm_dbeta"), atol: 1e-5, rtol: 1e-4, "layerNorm dbeta")

        // The layer is the same op.
        let ln = LayerNorm(8)
        try ln.weight.assign(g); try ln.bias.assign(b)
        assertClose(try Autograd.noGrad { try ln(x) }, try load("layernorm_y"), atol: 1e-5, rtol: 1e-4, "LayerNorm layer")
    }

    func testAttention() throws {
        let q = try load("attention_q"), k = try load("attention_k"), v = try load("attention_v"), w = try load("attention_w")
        XCTAssertEqual(q.shape, [2, 3, 4]); XCTAssertEqual(k.shape, [2, 5, 4]); XCTAssertEqual(v.shape, [2, 5, 3])
        leaves(q, k, v)
        let o = try Tensor.attention(q, k, v)
        assertClose(o, try load("attention_out"), atol: 1e-5, rtol: 1e-4, "attention")
        try o.backward(seed: w)
        assertClose(grad(q), try load("attention_dq"), atol: 1e-5, rtol: 1e-4, "attention dq")
        assertClose(grad(k), try load("attention_dk"), atol: 1e-5, rtol: 1e-4, "attention dk")
        assertClose(grad(v), try load("attention_dv"), atol: 1e-5, rtol: 1e-4, "attention dv")
    }

    func testCrossEntropyWithIgnoredRow() throws {
        let x = try load("crossentropy_logits"), t = ints(try load("crossentropy_targets"))
        XCTAssertEqual(t, [3, 0, -100, 5, 1])
        leaves(x)
        let loss = try x.crossEntropy(t)
        assertClose(loss, try load("crossentropy_loss"), atol: 1e-5, rtol: 1e-5, "crossEntropy")
        try loss.backward()
        assertClose(grad(x), try load("crossentropy_dlogits"), atol: 1e-6, rtol: 1e-4, "crossEntropy dlogits")
    }

    func testCosineLoss() throws {
        let a = try load("cosine_a"), b = try load("cosine_b")
        leaves(a, b)
        let loss = try a.cosineLoss(b)
        assertClose(loss, try load("cosine_loss"), atol: 1e-6, rtol: 1e-5, "cosineLoss")
        try loss.backward()
        assertClose(grad(a), try load("cosine_da"), atol: 1e-6, rtol: 1e-4, "cosineLoss da")
        assertClose(grad(b), try load("cosine_db"), atol: 1e-6, rtol: 1e-4, "cosineLoss db")
    }

    func testMatmulEveryTransposeAgrees() throws {
        let a = try load("matmul_a"), b = try load("matmul_b"), w = try load("matmul_w"), c = try load("matmul_c")
        let aT = try a.transposed(0, 1), bT = try b.transposed(0, 1)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let x = (ta ? aT : a).copy(), y = (tb ? bT : b).copy()
            leaves(x, y)
            let out = try x.matmul(y, transposeA: ta, transposeB: tb)
            assertClose(out, c, atol: 1e-5, rtol: 1e-5, "matmul ta \(ta) tb \(tb)")
            try out.backward(seed: w)
            let da = try load("matmul_da"), db = try load("matmul_db")
            let gx = try ta ? grad(x).transposed(0, 1) : grad(x), gy = try tb ? grad(y).transposed(0, 1) : grad(y)
            assertClose(gx, da, atol: 1e-5, rtol: 1e-5, "matmul da ta \(ta) tb \(tb)")
            assertClose(gy, db, atol: 1e-5, rtol: 1e-5, "matmul db ta \(ta) tb \(tb)")
        }
    }

    func testLinear() throws {
        let x = try load("linear_x"), wt = try load("linear_weight"), b = try load("linear_bias"), w = try load("linear_w")
        leaves(x, wt, b)
        let y = try x.linear(wt, b)
        assertClose(y, try load("linear_y"), atol: 1e-5, rtol: 1e-5, "linear")
        try y.backward(seed: w)
        assertClose(grad(x), try load("linear_dx"), atol: 1e-5, rtol: 1e-5, "linear dx")
        assertClose(grad(wt), try load("linear_dweight"), atol: 1e-5, rtol: 1e-5, "linear dweight")
        assertClose(grad(b), try load("linear_dbias"), atol: 1e-5, rtol: 1e-5, "linear dbias")

        // The Linear layer with these parameters gives the same values.
        var rng = RNG(seed: 1)
        let layer = Linear(4, 5, rng: &rng)
        try layer.weight.assign(wt); try layer.bias!.assign(b)
        assertClose(try Autograd.noGrad { try layer(x) }, try load("linear_y"), atol: 1e-5, rtol: 1e-5, "Linear layer")
    }

    func testTopkValues() throws {
        let x = try load("topk_x")
        let (values, indices) = try x.topk(3)
        XCTAssertEqual(values.shape, [4, 3])
        assertClose(values, try load("topk_values"), atol: 0, rtol: 0, "topk values")
        XCTAssertEqual(indices, ints(try load("topk_indices")))
    }
}

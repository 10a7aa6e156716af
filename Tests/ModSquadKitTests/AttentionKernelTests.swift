// MicroGEMM against a plain triple loop (every tile and tail path, strided and
// transposed A), and multi-head attention on heads side by side against a
// double-precision reference and finite differences.
import Foundation
import XCTest
import SquadTensor

final class AttentionKernelTests: XCTestCase {
    override func setUp() { Autograd.reset() }
    override func tearDown() { Autograd.reset() }

    func testMicroGEMMMatchesTripleLoop() {
        var rng = RNG(seed: 40)
        // m covers 6-row tiles and every 1-5 row tail; n covers 16- and 8-wide strips and scalar columns.
        for (m, n, k) in [(1, 1, 1), (5, 8, 3), (6, 16, 7), (7, 17, 4), (13, 25, 9), (128, 64, 32), (64, 33, 65), (11, 40, 1)] {
            for transposed in [false, true] {
                for accumulate in [false, true] {
                    // A stored [m, k] (ars k) or [k, m] (ars 1, acs m), inside rows 3 floats wider than needed.
                    let lda = (transposed ? m : k) + 3
                    let a = Tensor.uniform([(transposed ? k : m) * lda], -1, 1, rng: &rng)
                    let ldb = n + 2, ldc = n + 5
                    let b = Tensor.uniform([k * ldb], -1, 1, rng: &rng)
                    let c = Tensor.uniform([m * ldc], -1, 1, rng: &rng)
                    let before = Array(UnsafeBufferPointer(start: c.data, count: c.count))
                    let (ars, acs) = transposed ? (1, lda) : (lda, 1)
                    MicroGEMM.gemm(m: m, n: n, k: k, alpha: 0.5, a: a.data, ars: ars, acs: acs, b: b.data, ldb: ldb,
                                   c: c.data, ldc: ldc, accumulate: accumulate)
                    for i in 0..<m {
                        for j in 0..<ldc {
                            let got = c.data[i * ldc + j]
                            guard j < n else { XCTAssertEqual(got, before[i * ldc + j], "padding written at \(i),\(j)"); continue }
                            var s: Double = 0
                            for p in 0..<k { s += Double(a.data[i * ars + p * acs]) * Double(b.data[p * ldb + j]) }
                            let want = 0.5 * s + (accumulate ? Double(before[i * ldc + j]) : 0)
                            XCTAssertEqual(Double(got), want, accuracy: 1e-4 * max(1, abs(want)),
                                           "m \(m) n \(n) k \(k) transposed \(transposed) accumulate \(accumulate) at \(i),\(j)")
                        }
                    }
                }
            }
        }
    }

    /// softmax(q·kᵀ/√d)·v per image and head, in Double, heads read at the given column offsets.
    func reference(_ q: Tensor, _ qo: Int, _ k: Tensor, _ ko: Int, _ v: Tensor, _ vo: Int, heads: Int, d: Int) -> [Double] {
        let b = q.shape[0], nq = q.shape[1], nk = k.shape[1], cq = q.shape[2], ck = k.shape[2], cv = v.shape[2]
        var out = [Double](repeating: 0, count: b * nq * heads * d)
        for bi in 0..<b { for h in 0..<heads { for i in 0..<nq {
            var s = [Double](repeating: 0, count: nk)
            for j in 0..<nk { for c in 0..<d {
                s[j] += Double(q.data[(bi * nq + i) * cq + qo + h * d + c]) * Double(k.data[(bi * nk + j) * ck + ko + h * d + c])
            } }
            let mx = s.map { $0 / Double(d).squareRoot() }.max()!
            let e = s.map { exp($0 / Double(d).squareRoot() - mx) }, z = e.reduce(0, +)
            for c in 0..<d { for j in 0..<nk {
                out[((bi * nq + i) * heads + h) * d + c] += e[j] / z * Double(v.data[(bi * nk + j) * cv + vo + h * d + c])
            } }
        } } }
        return out
    }

    func testFusedQKVMatchesReference() throws {
        var rng = RNG(seed: 41)
        // The dense ViT's layout: one [B, N, 3·H·d] projection; N 65 (a class token), d 32.
        let b = 2, n = 65, h = 3, d = 32
        let x = Tensor.uniform([b, n, 3 * h * d], -1, 1, rng: &rng)
        let o = try Tensor.headAttention(q: x, k: x, kOffset: h * d, v: x, vOffset: 2 * h * d, heads: h, headDim: d)
        XCTAssertEqual(o.shape, [b, n, h * d])
        let want = reference(x, 0, x, h * d, x, 2 * h * d, heads: h, d: d)
        for i in 0..<o.count { XCTAssertEqual(Double(o.data[i]), want[i], accuracy: 1e-5, "index \(i)") }
    }

    func testMoAQueriesOverSharedKeysMatchReference() throws {
        var rng = RNG(seed: 42)
        // MoA's layout: k·N expert queries [B, N·k, f] over one [B, N, 2f] key/value projection.
        let b = 3, n = 20, topK = 2, h = 2, d = 16, f = h * d
        let q = Tensor.uniform([b, n * topK, f], -1, 1, rng: &rng), kv = Tensor.uniform([b, n, 2 * f], -1, 1, rng: &rng)
        let o = try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: f, heads: h, headDim: d)
        let want = reference(q, 0, kv, 0, kv, f, heads: h, d: d)
        for i in 0..<o.count { XCTAssertEqual(Double(o.data[i]), want[i], accuracy: 1e-5, "index \(i)") }
    }

    func testHeadAttentionGradients() throws {
        var rng = RNG(seed: 43)
        func check(_ name: String, _ inputs: [Tensor], line: UInt = #line, _ f: () throws -> Tensor) {
            do {
                let report = try GradCheck.check(inputs, eps: 1e-2, atol: 1e-3, rtol: 1e-2, f)
                XCTAssertTrue(report.passed, "\(name): \(report)", line: line)
                XCTAssertGreaterThan(report.checked, 0, line: line)
            } catch { XCTFail("\(name): threw \(error)", line: line) }
        }
        // d 8 and 17 keys: the 8-wide, 16-wide and scalar-column paths in every product.
        let (b, n, h, d) = (2, 17, 2, 8)
        let x = Tensor.normal([b, n, 3 * h * d], std: 0.5, rng: &rng)
        check("fused qkv", [x]) { try Tensor.headAttention(q: x, k: x, kOffset: h * d, v: x, vOffset: 2 * h * d, heads: h, headDim: d).square() }
        let q = Tensor.normal([b, 2 * n, h * d], std: 0.5, rng: &rng), kv = Tensor.normal([b, n, 2 * h * d], std: 0.5, rng: &rng)
        check("queries over shared keys/values", [q, kv]) { try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: h * d, heads: h, headDim: d) }
        check("keys/values only", [kv]) { try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: h * d, heads: h, headDim: d) }
        // q's gradient already holds a contribution when attention's backward runs (added, not written).
        check("gradient already present", [q, kv]) {
            let o = try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: h * d, heads: h, headDim: d)
            return try Tensor.concat([o, q.square()], axis: 0)
        }
        // q and k read overlapping columns across heads (head 1 of q is head 0 of k): one task per image.
        let y = Tensor.normal([b, n, 3 * d], std: 0.5, rng: &rng)
        check("overlapping roles", [y]) { try Tensor.headAttention(q: y, k: y, kOffset: d, v: y, heads: h, headDim: d) }
    }

    func testHeadAttentionRejectsColumnsOutsideTheRow() {
        let x = Tensor(zeros: [1, 4, 10])
        XCTAssertThrowsError(try Tensor.headAttention(q: x, k: x, kOffset: 4, v: x, heads: 2, headDim: 4)) { error in
            XCTAssertTrue("\(error)".contains("[1, 4, 10]"), "\(error)")
        }
    }
}

// The expert ops: grouped linear and the gate-scaled combine, against finite
// differences and against their unfused compositions.
import XCTest
import SquadTensor

final class ExpertOpTests: XCTestCase {
    func testGroupedLinearGradients() throws {
        var rng = RNG(seed: 61)
        let x = Tensor.normal([7, 3], rng: &rng), w = Tensor.normal([3, 3, 4], rng: &rng), b = Tensor.normal([3, 4], rng: &rng)
        for sizes in [[2, 0, 5], [7, 0, 0], [3, 2, 2]] {
            let r = try GradCheck.check([x, w, b]) { try x.groupedLinear(w, b, sizes: sizes) }
            XCTAssertTrue(r.passed, "\(sizes): \(r)")
        }
        let r = try GradCheck.check([x, w]) { try x.groupedLinear(w, nil, sizes: [1, 4, 2]) }
        XCTAssertTrue(r.passed, "no bias: \(r)")
        // equals per-group matmuls
        let y = try x.groupedLinear(w, b, sizes: [2, 0, 5])
        let parts = try x.split([2, 5], axis: 0)
        let w0 = try w.split([1, 1, 1], axis: 0).map { try $0.reshaped([3, 4]) }
        let b0 = try b.split([1, 1, 1], axis: 0).map { try $0.reshaped([4]) }
        let ref = try Tensor.concat([parts[0].matmul(w0[0]).add(b0[0]), parts[1].matmul(w0[2]).add(b0[2])], axis: 0)
        assertClose(y, ref, atol: 1e-5, rtol: 1e-5)
        XCTAssertThrowsError(try x.groupedLinear(w, b, sizes: [1, 1, 1])) { XCTAssertTrue("\($0)".contains("sum to the 7 rows"), "\($0)") }
    }

    func testGroupedLinearOnPickedOrGELURowsEqualsTheComposition() throws {
        var rng = RNG(seed: 62)
        let x = Tensor.normal([5, 3], rng: &rng), w = Tensor.normal([3, 3, 4], rng: &rng), b = Tensor.normal([3, 4], rng: &rng)
        // Rows picked with repeats (a token sent to two experts), one expert empty.
        let rows = [4, 0, 4, 2, 1, 0, 3, 3, 2], sizes = [3, 0, 6]
        let picked = try x.groupedLinear(w, b, sizes: sizes, rows: rows)
        assertClose(picked, try x.gatherRows(rows).groupedLinear(w, b, sizes: sizes), atol: 1e-6, rtol: 1e-6, "picked rows")
        let r1 = try GradCheck.check([x, w, b]) { try x.groupedLinear(w, b, sizes: sizes, rows: rows) }
        XCTAssertTrue(r1.passed, "picked rows: \(r1)")
        let activated = try x.groupedLinear(w, nil, sizes: [2, 1, 2], geluInput: true)
        assertClose(activated, try x.gelu().groupedLinear(w, nil, sizes: [2, 1, 2]), atol: 1e-6, rtol: 1e-6, "GELU input")
        let r2 = try GradCheck.check([x, w]) { try x.groupedLinear(w, nil, sizes: [2, 1, 2], geluInput: true) }
        XCTAssertTrue(r2.passed, "GELU input: \(r2)")
        // x feeding both fused forms: its gradient accumulates over the two.
        let r3 = try GradCheck.check([x, w, b]) {
            try Tensor.concat([x.groupedLinear(w, b, sizes: sizes, rows: rows), x.groupedLinear(w, b, sizes: [1, 2, 2], geluInput: true)], axis: 0)
        }
        XCTAssertTrue(r3.passed, "both forms: \(r3)")
        // The other order: the GELU form's backward adds onto a gradient the picked form wrote.
        let r4 = try GradCheck.check([x, w]) {
            try Tensor.concat([x.groupedLinear(w, nil, sizes: [1, 2, 2], geluInput: true), x.groupedLinear(w, nil, sizes: sizes, rows: rows)], axis: 0)
        }
        XCTAssertTrue(r4.passed, "both forms, other order: \(r4)")
        // 32+ outputs: the weight gradient runs in column halves (with more than one thread).
        let w32 = Tensor.normal([3, 3, 32], rng: &rng), b32 = Tensor.normal([3, 32], rng: &rng)
        let r5 = try GradCheck.check([w32, b32]) { try x.groupedLinear(w32, b32, sizes: sizes, rows: rows) }
        XCTAssertTrue(r5.passed, "32 outputs: \(r5)")
        XCTAssertThrowsError(try x.groupedLinear(w, b, sizes: [1, 0, 1], rows: [0, 5])) {
            XCTAssertTrue("\($0)".contains("row 5 at position 1 out of range 0..<5"), "\($0)")
        }
    }

    func testCombineRowsEqualsScaleThenScatterAndHasGradients() throws {
        var rng = RNG(seed: 62)
        let src = Tensor.normal([6, 5], rng: &rng), s = Tensor.normal([6], rng: &rng)
        let idx = [2, 0, 2, 3, 0, 1]
        let fused = try src.combineRows(scales: s, index: idx, rows: 4)
        let plain = try src.scaleRows(s).scatterAddRows(idx, rows: 4)
        assertClose(fused, plain, atol: 1e-6, rtol: 1e-6)
        let r = try GradCheck.check([src, s]) { try src.combineRows(scales: s, index: idx, rows: 4) }
        XCTAssertTrue(r.passed, "\(r)")
        XCTAssertThrowsError(try src.combineRows(scales: s, index: [0, 0, 0, 0, 0, 9], rows: 4)) {
            XCTAssertTrue("\($0)".contains("combineRows: index 9 at position 5 out of range 0..<4"), "\($0)")
        }
        XCTAssertThrowsError(try src.combineRows(scales: Tensor(zeros: [5]), index: idx, rows: 4)) {
            XCTAssertTrue("\($0)".hasPrefix("combineRows: shape mismatch"), "\($0)")
        }
    }
}

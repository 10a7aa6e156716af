// Bad shapes and out-of-range indices: every op throws a TensorError whose text
// names the op and the shapes it saw, and records nothing on the tape.
import Foundation
import XCTest
import SquadTensor
import SquadNN

final class OpErrorTests: XCTestCase {
    override func setUp() { Autograd.reset() }
    override func tearDown() { Autograd.reset() }

    func s(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    /// A tensor of that shape that takes gradients (so a faulty op would record).
    func t(_ shape: Int...) -> Tensor { Tensor(repeating: 0.5, shape: shape, requiresGrad: true) }

    /// Asserts `body` throws a TensorError whose description starts with "`op`:" and
    /// contains every string in `mentions` (shapes, indices), and that nothing was recorded.
    func expectError(_ op: String, _ mentions: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Any) {
        let before = Autograd.recordedOps
        do {
            let r = try body()
            XCTFail("\(op): expected an error, got \(r)", file: file, line: line)
        } catch let e as TensorError {
            let d = e.description
            XCTAssertTrue(d.hasPrefix(op + ":"), "'\(d)' does not start with '\(op):'", file: file, line: line)
            for m in mentions { XCTAssertTrue(d.contains(m), "'\(d)' does not mention \(m)", file: file, line: line) }
        } catch {
            XCTFail("\(op): expected a TensorError, got \(type(of: error)): \(error)", file: file, line: line)
        }
        XCTAssertEqual(Autograd.recordedOps, before, "\(op): a failed call recorded on the tape", file: file, line: line)
    }

    /// Shape mismatches: "op: shape mismatch: got A and B".
    func expectMismatch(_ op: String, _ shapes: [[Int]], file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> Any) {
        let got = "\(op): shape mismatch: got " + shapes.map(s).joined(separator: " and ")
        expectError(op, [got], file: file, line: line, body)
    }

    func testBinaryOps() {
        let a = t(2, 3), b = t(4)
        expectMismatch("add", [[2, 3], [4]]) { try a.add(b) }
        expectMismatch("sub", [[2, 3], [4]]) { try a.sub(b) }
        expectMismatch("mul", [[2, 3], [4]]) { try a.mul(b) }
        expectMismatch("div", [[2, 3], [4]]) { try a.div(b) }
        expectMismatch("add", [[4], [2, 3]]) { try b + a }
        expectMismatch("sub", [[4], [2, 3]]) { try b - a }
        expectMismatch("mul", [[2, 3], [3, 2]]) { try a * t(3, 2) }          // equal counts, other layout
        expectMismatch("div", [[2, 3], [2, 1]]) { try a / t(2, 1) }          // column, not row, broadcast
        expectMismatch("add", [[2, 3], [6]]) { try a.add(t(6)) }
        expectMismatch("add", [[2, 3, 4], [2, 4]]) { try t(2, 3, 4).add(t(2, 4)) }
        expectMismatch("mul", [[2, 3, 4], [2, 1, 4]]) { try t(2, 3, 4).mul(t(2, 1, 4)) }
    }

    func testScaleRows() {
        expectMismatch("scaleRows", [[3, 4], [4]]) { try self.t(3, 4).scaleRows(self.t(4)) }
        expectMismatch("scaleRows", [[3, 4], [3, 2]]) { try self.t(3, 4).scaleRows(self.t(3, 2)) }
    }

    func testShapeOps() {
        expectMismatch("reshape", [[2, 3], [4, 2]]) { try self.t(2, 3).reshaped([4, 2]) }
        expectMismatch("reshape", [[2, 3], [4, -1]]) { try self.t(2, 3).reshaped([4, -1]) }
        expectMismatch("reshape", [[2, 3], [-1, -1]]) { try self.t(2, 3).reshaped([-1, -1]) }
        expectError("permute", ["[0, 0]", "[2, 3]"]) { try self.t(2, 3).permuted([0, 0]) }
        expectError("permute", ["[0, 1]", "[2, 3, 4]"]) { try self.t(2, 3, 4).permuted([0, 1]) }
        expectError("transpose", ["0, 2", "[2, 3]"]) { try self.t(2, 3).transposed(0, 2) }
        expectMismatch("concat", [[2, 3], [2, 4]]) { try Tensor.concat([self.t(2, 3), self.t(2, 4)], axis: 0) }
        expectMismatch("concat", [[2, 3], [2, 3, 1]]) { try Tensor.concat([self.t(2, 3), self.t(2, 3, 1)], axis: 1) }
        expectError("concat", ["axis 2", "[2, 3]"]) { try Tensor.concat([self.t(2, 3), self.t(2, 3)], axis: 2) }
        expectError("concat", ["no tensors"]) { try Tensor.concat([], axis: 0) }
        expectMismatch("split", [[2, 6, 3], [1, 3]]) { try self.t(2, 6, 3).split([1, 3], axis: 1) }
        expectMismatch("split", [[2, 6, 3], [7, -1]]) { try self.t(2, 6, 3).split([7, -1], axis: 1) }
        expectError("split", ["axis 3", "[2, 6, 3]"]) { try self.t(2, 6, 3).split([1, 2], axis: 3) }
    }

    func testReductions() {
        expectError("sum", ["axis 2", "[2, 3]"]) { try self.t(2, 3).sum(axis: 2) }
        expectError("sum", ["axis -3", "[2, 3]"]) { try self.t(2, 3).sum(axis: -3) }
        expectError("mean", ["axis 5", "[2, 3]"]) { try self.t(2, 3).mean(axis: 5) }
    }

    func testMatmulAndBmm() {
        expectMismatch("matmul", [[2, 3], [4, 5]]) { try self.t(2, 3).matmul(self.t(4, 5)) }
        expectMismatch("matmul", [[3, 2], [4, 5]]) { try self.t(3, 2).matmul(self.t(4, 5), transposeA: true) }
        expectMismatch("matmul", [[2, 3], [5, 4]]) { try self.t(2, 3).matmul(self.t(5, 4), transposeB: true) }
        expectError("matmul", ["transposeB"]) { try self.t(2, 3).matmul(self.t(5, 4), transposeB: true) }
        expectMismatch("matmul", [[2, 3, 4], [4, 5]]) { try self.t(2, 3, 4).matmul(self.t(4, 5), transposeA: true) }
        expectMismatch("matmul", [[2, 3], [3]]) { try self.t(2, 3).matmul(self.t(3)) }
        expectMismatch("matmul", [[3], [3, 2]]) { try self.t(3).matmul(self.t(3, 2)) }
        expectMismatch("bmm", [[2, 3, 4], [3, 4, 5]]) { try self.t(2, 3, 4).bmm(self.t(3, 4, 5)) }
        expectMismatch("bmm", [[2, 3, 4], [2, 5, 6]]) { try self.t(2, 3, 4).bmm(self.t(2, 5, 6)) }
        expectMismatch("bmm", [[2, 4, 3], [2, 4, 5]]) { try self.t(2, 4, 3).bmm(self.t(2, 4, 5), transposeB: true) }
        expectMismatch("bmm", [[3, 4], [3, 4, 5]]) { try self.t(3, 4).bmm(self.t(3, 4, 5)) }
    }

    func testLinear() {
        expectMismatch("linear", [[2, 3], [4, 5]]) { try self.t(2, 3).linear(self.t(4, 5)) }
        expectMismatch("linear", [[2, 3], [3]]) { try self.t(2, 3).linear(self.t(3)) }
        expectMismatch("linear", [[4, 3], [5]]) { try self.t(2, 3).linear(self.t(4, 3), self.t(5)) }
    }

    func testSoftmaxLayerNormAttention() {
        expectError("softmax", ["[2, 0]"]) { try self.t(2, 0).softmax() }
        expectError("logSoftmax", ["[2, 0]"]) { try self.t(2, 0).logSoftmax() }
        expectMismatch("layerNorm", [[2, 8], [7], [8]]) { try self.t(2, 8).layerNorm(self.t(7), self.t(8)) }
        expectMismatch("layerNorm", [[2, 8], [8], [6]]) { try self.t(2, 8).layerNorm(self.t(8), self.t(6)) }
        // d of q and k differ; Nk of k and v differ; groups differ; not 3-D.
        expectMismatch("attention", [[2, 3, 4], [2, 5, 6], [2, 5, 3]]) { try Tensor.attention(self.t(2, 3, 4), self.t(2, 5, 6), self.t(2, 5, 3)) }
        expectMismatch("attention", [[2, 3, 4], [2, 5, 4], [2, 6, 3]]) { try Tensor.attention(self.t(2, 3, 4), self.t(2, 5, 4), self.t(2, 6, 3)) }
        expectMismatch("attention", [[2, 3, 4], [1, 5, 4], [1, 5, 3]]) { try Tensor.attention(self.t(2, 3, 4), self.t(1, 5, 4), self.t(1, 5, 3)) }
        expectMismatch("attention", [[3, 4], [2, 5, 4], [2, 5, 3]]) { try Tensor.attention(self.t(3, 4), self.t(2, 5, 4), self.t(2, 5, 3)) }
    }

    func testIndexOps() {
        expectError("gatherRows", ["index 4", "[4, 3]"]) { try self.t(4, 3).gatherRows([0, 4]) }
        expectError("gatherRows", ["index -1", "[4, 3]"]) { try self.t(4, 3).gatherRows([-1]) }
        expectMismatch("scatterAddRows", [[3, 2], [2]]) { try self.t(3, 2).scatterAddRows([0, 1], rows: 4) }
        expectError("scatterAddRows", ["index 4", "0..<4"]) { try self.t(2, 2).scatterAddRows([1, 4], rows: 4) }
        expectError("scatterAddRows", ["index -2"]) { try self.t(2, 2).scatterAddRows([-2, 0], rows: 4) }
        expectError("scatterAddRows", ["rows = -1"]) { try self.t(0, 2).scatterAddRows([], rows: -1) }
        expectError("topk", ["k = 5", "[2, 4]"]) { try self.t(2, 4).topk(5) }
        expectError("topk", ["k = 0", "[2, 4]"]) { try self.t(2, 4).topk(0) }
        // Embedding ids go through gatherRows.
        var rng = RNG(seed: 1)
        let emb = Embedding(3, 2, rng: &rng)
        expectError("gatherRows", ["index 3", "[3, 2]"]) { try emb([0, 3]) }
    }

    func testLosses() {
        expectMismatch("crossEntropy", [[2, 3], [3]]) { try self.t(2, 3).crossEntropy([0, 1, 2]) }
        expectMismatch("crossEntropy", [[6], [2]]) { try self.t(6).crossEntropy([0, 1]) }
        expectError("crossEntropy", ["target 3", "row 1", "0..<3"]) { try self.t(2, 3).crossEntropy([0, 3]) }
        expectError("crossEntropy", ["target -1"]) { try self.t(2, 3).crossEntropy([-1, 0]) }
        expectMismatch("mseLoss", [[2, 3], [3, 2]]) { try self.t(2, 3).mseLoss(self.t(3, 2)) }
        expectMismatch("l1Loss", [[2, 3], [6]]) { try self.t(2, 3).l1Loss(self.t(6)) }
        expectMismatch("cosineLoss", [[2, 3], [2, 4]]) { try self.t(2, 3).cosineLoss(self.t(2, 4)) }
    }

    func testBackwardAndConstruction() throws {
        let x = t(2, 3)
        let y = x.affine(scale: 2)
        expectMismatch("backward", [[2, 3], [4]]) { try y.backward(seed: Tensor(repeating: 1, shape: [4])) }
        Autograd.reset()
        let z = x.affine(scale: 2)
        expectError("backward", ["[2, 3]"]) { try z.backward() }   // not a scalar
        Autograd.reset()
        expectError("Tensor", ["5 values", "[2, 3]"]) { try Tensor([1, 2, 3, 4, 5], shape: [2, 3]) }
        expectMismatch("assign", [[2, 3], [4]]) { try self.t(2, 3).assign(Tensor(repeating: 1, shape: [4])) }
    }

    func testLayers() throws {
        var rng = RNG(seed: 2)
        let lin = Linear(4, 3, rng: &rng)
        expectMismatch("linear", [[2, 5], [3, 4]]) { try lin(self.t(2, 5)) }
        let mha = MultiHeadAttention(4, heads: 2, rng: &rng)
        expectMismatch("MultiHeadAttention", [[3, 4]]) { try mha(self.t(3, 4)) }
        let pe = try PatchEmbedding(image: 4, patch: 2, channels: 3, dim: 5, rng: &rng)
        expectMismatch("PatchEmbedding", [[1, 2, 4, 4]]) { try pe(self.t(1, 2, 4, 4)) }
        let pos = PositionEmbedding(3, 4, rng: &rng)
        expectMismatch("add", [[2, 5, 4], [3, 4]]) { try pos(self.t(2, 5, 4)) }
        let ln = LayerNorm(4)
        expectMismatch("layerNorm", [[2, 5], [4], [4]]) { try ln(self.t(2, 5)) }
    }

    /// The broadcasts that must work (so the errors above are not over-eager).
    func testAcceptedBroadcasts() throws {
        XCTAssertEqual(try t(2, 3).add(t(3)).shape, [2, 3])
        XCTAssertEqual(try t(3).add(t(2, 3)).shape, [2, 3])
        XCTAssertEqual(try t(3).add(t(1, 3)).shape, [1, 3])
        XCTAssertEqual(try t(1, 3).add(t(3)).shape, [1, 3])
        XCTAssertEqual(try t(2, 3, 4).add(t(1, 3, 4)).shape, [2, 3, 4])
        XCTAssertEqual(try t(1, 3, 4).mul(t(2, 3, 4)).shape, [2, 3, 4])
        XCTAssertEqual(try t(3, 4).sub(t(1, 1, 4)).shape, [1, 3, 4])
        XCTAssertEqual(try t(2, 3).div(t(1)).shape, [2, 3])
        XCTAssertEqual(try t(1).div(t(2, 3)).shape, [2, 3])
        XCTAssertEqual(try t(2, 3).mul(t(1, 1)).shape, [2, 3])
    }
}

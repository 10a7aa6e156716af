// Learning on real data, short: a single-task squad with msq's defaults must fit 256 Fashion-MNIST
// training images (the bar: ≥ 95% train top-1). With the earlier defaults (N(0, 1) task embeddings,
// trunc_normal(0.02) Linear layers, no warm-up) it reached 0.26–0.79; bench/parity.py is the long version.
import Foundation
import XCTest
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadScript
import BuiltinPlugins
import SquadData

final class LearningTests: XCTestCase {
    func session() throws -> (Interpreter, TestOutput) {
        let f = URL(fileURLWithPath: FashionMNIST.defaultFolder).appendingPathComponent("train-images-idx3-ubyte.gz")
        if !FileManager.default.fileExists(atPath: f.path) {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("dataset-fashion-mnist is not installed") }
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        return try makeBuiltinSession("msq-learn")
    }

    func top1(_ interp: Interpreter, _ name: String) throws -> Double {
        guard case .object(let r as Record)? = interp.variables[name], case .object(let row as Record)? = r.fields.first(where: { $0.0 == "class" })?.1,
              case .number(let v)? = row.fields.first(where: { $0.0 == "top1" })?.1 else {
            XCTFail("\(name) is not an eval record with class top1"); return 0
        }
        return v
    }

    func testSingleTaskSquadFits256FashionImages() throws {
        let (interp, out) = try session()
        try interp.run("""
        data = fashion(train: 256, test: 64, size: 32, tasks: ["class"])
        m = squad(tasks: data, dim: 64, depth: 4, patch: 4, experts: 4, top_k: 2)
        train(m, data, steps: 300, batch: 32, lr: 1e-3, augment: false)
        fit = eval(m, data, split: "train")
        """, name: "fit.msq")
        let acc = try top1(interp, "fit")
        XCTAssertGreaterThanOrEqual(acc, 0.95, "a single-task squad fits only \(acc) of 256 training images:\n\(out.text.suffix(600))")
    }
}

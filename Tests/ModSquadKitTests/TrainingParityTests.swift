// Learning parity with PyTorch over many steps: msq trains the fixture models (a dense ViT, and a squad in
// the authors' layout with the MI loss) from the initial weights and batches msq wrote, and its per-step
// losses and final weights must match PyTorch's float64 run of the same model (bench/msq_torch.py), made by
// Tests/Fixtures/make_training_fixtures.py.
import Foundation
import XCTest
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import BuiltinPlugins

final class TrainingParityTests: XCTestCase {
    struct Schedule: Decodable { let lr: Float; let warmup: Int; let mi: Float; let steps: Int; let columns: [String] }
    struct Meta: Decodable { struct Task: Decodable { let name: String; let loss: String }; let tasks: [Task] }

    /// Relative tolerance of the issue: per-step losses and final weights within 1e-4.
    let rtol: Float = 1e-4

    func batches(_ folder: URL) throws -> (images: Tensor, targets: [String: Tensor], order: Tensor) {
        let images = try NPY.read(folder.appendingPathComponent("train_images.npy"))
        let order = try NPY.read(folder.appendingPathComponent("order.npy"))
        var targets: [String: Tensor] = [:]
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        for n in names where n.hasPrefix("train_") && n.hasSuffix(".npy") && n != "train_images.npy" {
            targets[String(n.dropFirst(6).dropLast(4))] = try NPY.read(folder.appendingPathComponent(n))
        }
        return (images, targets, order)
    }

    /// The batch of sample indices `idx`: images and each task's target in the model's target form.
    func batch(_ model: SquadModel, _ data: (images: Tensor, targets: [String: Tensor], order: Tensor), _ idx: [Int], losses: [String: String]) throws
        -> (Tensor, [String: TaskTarget]) {
        let n = data.images.shape[0]
        let x = try data.images.reshaped([n, data.images.count / n]).gatherRows(idx)
            .reshaped([idx.count] + Array(data.images.shape.dropFirst()))
        var y: [String: TaskTarget] = [:]
        for spec in model.config.tasks {
            let t = try XCTUnwrap(data.targets[spec.name], "no target file for \(spec.name)")
            let per = t.count / n
            let rows = try t.reshaped([n, per]).gatherRows(idx)
            if losses[spec.name] == "ce" { y[spec.name] = .labels(rows.array.map { Int($0) }) }
            else { y[spec.name] = .values(try rows.reshaped([idx.count] + Array(t.shape.dropFirst()))) }
        }
        return (x, y)
    }

    func checkCase(_ name: String) throws {
        let folder = Fixtures.url("training/\(name)")
        let sched = try JSONDecoder().decode(Schedule.self, from: Data(contentsOf: folder.appendingPathComponent("schedule.json")))
        let (model, _, _) = try Checkpoint.load(folder.appendingPathComponent("init.safetensors"))
        let data = try batches(folder)
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: folder.appendingPathComponent("meta.json")))
        let losses = Dictionary(uniqueKeysWithValues: meta.tasks.map { ($0.name, $0.loss) })
        let expected = try NPY.read(folder.appendingPathComponent("torch_losses.npy"))      // [steps, columns]
        let final = try SafeTensors.read(folder.appendingPathComponent("torch_final.safetensors")).tensors
        XCTAssertEqual(expected.shape, [sched.steps, sched.columns.count])
        var o = TrainOptions()
        o.lr = sched.lr; o.warmupSteps = sched.warmup; o.totalSteps = sched.steps; o.miWeight = sched.mi
        let trainer = Trainer(model, options: o)
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        try registry.bind(model, trainer: trainer)   // the task plugins' losses, as train() uses them
        let b = data.order.shape[1]
        var worst: (Float, Int, String) = (0, -1, "")
        var profile = [Float](repeating: 0, count: (sched.steps + 24) / 25)   // worst relative error per 25 steps
        for s in 0..<sched.steps {
            let idx = (0..<b).map { Int(data.order.data[s * b + $0]) }
            let (x, y) = try batch(model, data, idx, losses: losses)
            let log = try trainer.trainStep(x, y)
            var got: [Float] = [log.total] + model.tasks.map { t in log.taskLosses.first { $0.0 == t }!.1 }
            if sched.columns.last == "mi" { got.append(try XCTUnwrap(log.aux.first { $0.0 == "mi" }?.1, "step \(s): no MI term")) }
            XCTAssertEqual(got.count, sched.columns.count)
            for (j, v) in got.enumerated() {
                let ref = expected.data[s * sched.columns.count + j]
                // relative, with a floor of 0.01: the MI loss starts near 0 (uniform routing), where a
                // relative error only measures float32's absolute rounding of its probability sums
                let rel = Swift.abs(v - ref) / Swift.max(Swift.abs(ref), 1e-2)
                if rel > worst.0 { worst = (rel, s, sched.columns[j]) }
                profile[s / 25] = Swift.max(profile[s / 25], rel)
            }
        }
        XCTAssertLessThanOrEqual(worst.0, rtol, "\(name): loss '\(worst.2)' at step \(worst.1) differs from PyTorch by \(worst.0) relative; worst per 25 steps: \(profile.map { String(format: "%.1e", $0) })")
        // Final weights: each tensor's relative error ‖w − w_ref‖ / ‖w_ref‖. Key biases are left out: softmax
        // ignores a constant added to every key, so their gradient is zero up to rounding and Adam turns that
        // rounding into steps of size ~lr, different in float32 and float64.
        let mine = model.stateDict()
        var worstWeight: (Float, String) = (0, "")
        XCTAssertEqual(Set(mine.keys), Set(final.keys), "\(name): parameter names differ from the PyTorch module's")
        for (n, ref) in final {
            let w = try XCTUnwrap(mine[n])
            XCTAssertEqual(w.shape, ref.shape, n)
            var skip = 0..<0
            if n.hasSuffix("attn.qkv.bias") { skip = (ref.count / 3)..<(2 * ref.count / 3) }
            if n.hasSuffix("attn.kv.bias") { skip = 0..<(ref.count / 2) }
            var num = 0.0, den = 0.0
            for i in 0..<ref.count where !skip.contains(i) {
                num += Double(w.data[i] - ref.data[i]) * Double(w.data[i] - ref.data[i]); den += Double(ref.data[i]) * Double(ref.data[i])
            }
            let rel = Float((num / Swift.max(den, 1e-12)).squareRoot())
            if rel > worstWeight.0 { worstWeight = (rel, n) }
            XCTAssertLessThanOrEqual(rel, rtol, "\(name): final \(n) differs from PyTorch's by \(rel) relative")
        }
        print("\(name): \(sched.steps) steps against PyTorch float64: worst loss error \(worst.0) (\(worst.2), step \(worst.1)), worst final weight error \(worstWeight.0) (\(worstWeight.1))")
        // The run must have learned something, or agreement would be cheap.
        XCTAssertLessThan(expected.data[(sched.steps - 1) * sched.columns.count], expected.data[0] * 0.8, "\(name): the reference run did not learn")
    }

    func testViTTrainsLikePyTorchFor200Steps() throws { try checkCase("vit") }
    func testSquadWithMITrainsLikePyTorchFor200Steps() throws { try checkCase("squad") }
}

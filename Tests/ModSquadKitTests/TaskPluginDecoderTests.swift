// Tests of the optional upsampling decoder of dense heads, and a short end-to-end run: scenes -> DataLoader -> squad -> task plugin losses.
import Foundation
import XCTest
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData
import BuiltinPlugins

final class TaskPluginDecoderTests: XCTestCase {
    func testDecoderShapesNamesAndGradients() throws {
        var rng = RNG(seed: 1)
        var spec = TaskSpec("depth", kind: .dense, channels: 2, loss: .l1)
        spec.decoder = 6
        let head = TaskHead(spec, dim: 8, patch: 4, grid: 2, rng: &rng)
        XCTAssertEqual(head.parameters().map(\.name), ["decoder.input.weight", "decoder.input.bias", "decoder.up0.weight", "decoder.up0.bias",
                                                       "decoder.up1.weight", "decoder.up1.bias", "decoder.output.weight", "decoder.output.bias"])
        let tokens = Tensor.normal([2, 4, 8], rng: &rng)
        let y = try head(tokens)
        XCTAssertEqual(y.shape, [2, 2, 8, 8])
        let d = try XCTUnwrap(head.decoder)
        let report = try GradCheck.check([tokens, d.input.weight, d.stages[0].weight, d.output.weight], eps: 1e-2, maxEntries: 24) { try head(tokens) }
        XCTAssertTrue(report.passed, report.description)
        // a patch that is not a power of two: one ×p step
        var rng2 = RNG(seed: 2)
        let odd = TaskHead(spec, dim: 8, patch: 3, grid: 2, rng: &rng2)
        XCTAssertEqual(try odd(Tensor.normal([1, 4, 8], rng: &rng2)).shape, [1, 2, 6, 6])
        XCTAssertEqual(odd.decoder?.stages.count, 1)
        // without a decoder the head is the per-patch linear one, as before
        spec.decoder = nil
        XCTAssertEqual(TaskHead(spec, dim: 8, patch: 4, grid: 2, rng: &rng).parameters().map(\.name), ["proj.weight", "proj.bias"])
    }

    /// 3×3 convolution by gathers, against a direct loop.
    func testConvolutionMatchesADirectLoop() throws {
        var rng = RNG(seed: 3)
        let (b, s, h, o) = (2, 3, 2, 3)
        let x = Tensor.normal([b * s * s, h], rng: &rng), lin = Linear(9 * h, o, rng: &rng)
        let y = try UpsamplingDecoder.conv3x3(x, lin, batch: b, side: s)
        for i in 0..<b { for r in 0..<s { for c in 0..<s { for out in 0..<o {
            var v = lin.bias!.data[out]
            for k in 0..<9 {
                let rr = r + k / 3 - 1, cc = c + k % 3 - 1
                guard rr >= 0 && rr < s && cc >= 0 && cc < s else { continue }
                for ch in 0..<h { v += lin.weight.data[out * 9 * h + k * h + ch] * x.data[((i * s + rr) * s + cc) * h + ch] }
            }
            XCTAssertEqual(y.data[((i * s + r) * s + c) * o + out], v, accuracy: 1e-5)
        } } } }
    }

    func testSpecDecodesWithoutTheDecoderField() throws {
        let old = #"{"name":"depth","kind":"dense","channels":1,"loss":"l1","weight":1}"#
        let spec = try JSONDecoder().decode(TaskSpec.self, from: Data(old.utf8))
        XCTAssertNil(spec.decoder)
        var withDecoder = spec
        withDecoder.decoder = 16
        XCTAssertEqual(try JSONDecoder().decode(TaskSpec.self, from: JSONEncoder().encode(withDecoder)).decoder, 16)
    }

    /// Scenes through the loader into a small squad (one head with a decoder), trained with the plugins' losses.
    func testScenesTrainThroughThePlugins() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let ds = try ScenesDataset(size: 16, train: 64, test: 8, tasks: ["depth", "segment", "count"], seed: 2, cache: false)
        var c = SquadConfig()
        c.image = 16; c.patch = 4; c.channels = 3; c.dim = 16; c.depth = 2; c.heads = 2; c.attentionHeadDim = 8
        c.moaHeadsPerExpert = 1; c.moaHeadDim = 8; c.moeHidden = 16; c.mlpRatio = 2
        c.blocks = try SquadConfig.layout("alternate", depth: 2, attentionExperts: 4, attentionTopK: 2, mlpExperts: 4, mlpTopK: 2)
        c.tasks = try ds.taskNames.map { name in
            var s = try registry.task(name).spec()
            if name == "depth" { s.decoder = 8 }
            return s
        }
        let model = try SquadModel(c)
        var opts = TrainOptions()
        opts.lr = 3e-3; opts.weightDecay = 0
        let trainer = Trainer(model, options: opts)
        try registry.bind(model, trainer: trainer)
        let loader = DataLoader(ds, split: .train, batchSize: 16, seed: 1, augment: true)
        var losses: [Float] = []
        for _ in 0..<24 {
            let (x, t) = try loader.next()
            losses.append(try trainer.trainStep(x, t).total)
        }
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        let first = losses.prefix(4).reduce(0, +) / 4, last = losses.suffix(4).reduce(0, +) / 4
        XCTAssertLessThan(last, first, "losses \(losses)")
        XCTAssertEqual(loader.epoch, 5); XCTAssertEqual(loader.position, 4, "an epoch just finished rolls over on the next call")
        // metrics from the plugins on a test batch
        let test = DataLoader(ds, split: .test, batchSize: 8, shuffle: false)
        test.normalization = loader.normalization
        let (x, t) = try test.next()
        let out = try Autograd.noGrad { try model(x) }
        for name in ds.taskNames {
            let ms = try registry.task(name).metrics(out.predictions[name]!, t[name]!)
            XCTAssertTrue(ms.allSatisfy { $0.value.isFinite }, "\(name) \(ms)")
        }
    }
}

// Layers, parameter naming, optimizers, schedules, and end-to-end fitting.
import XCTest
import SquadTensor
@testable import SquadNN

final class NNTests: XCTestCase {
    func testDottedParameterNamesAndDecayFlags() throws {
        var rng = RNG(seed: 1)
        let vit = try ViTClassifier(image: 8, patch: 4, channels: 3, dim: 16, depth: 2, heads: 2, classes: 5, rng: &rng)
        let names = vit.parameters().map(\.name)
        XCTAssertEqual(names.first, "patch_embed.proj.weight")
        XCTAssertTrue(names.contains("blocks.1.mlp.fc1.weight"))
        XCTAssertTrue(names.contains("blocks.0.attn.qkv.bias"))
        XCTAssertEqual(Set(names).count, names.count)
        let decays = Dictionary(uniqueKeysWithValues: vit.parameters().map { ($0.name, $0.decays) })
        XCTAssertEqual(decays["blocks.0.attn.qkv.weight"], true)
        XCTAssertEqual(decays["blocks.0.attn.qkv.bias"], false)
        XCTAssertEqual(decays["pos_embed.weight"], false)
        XCTAssertEqual(decays["norm.weight"], false)
        // parameter count = analytic
        let d = 16, h = 64
        let block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d)
        XCTAssertEqual(vit.parameterCount, (48 * d + d) + 4 * d + 2 * block + 2 * d + (d * 5 + 5))
        vit.freeze("blocks.0.")
        XCTAssertFalse(vit.parameter("blocks.0.mlp.fc2.bias")!.requiresGrad)
        XCTAssertTrue(vit.parameter("blocks.1.mlp.fc2.bias")!.requiresGrad)
        XCTAssertEqual(vit.trainableParameters().count, vit.parameters().count - 12)
        vit.unfreeze()
        vit.eval(); XCTAssertFalse(vit.blocks[1].mlp.training); vit.train()
    }

    func testLoadChecksNamesAndShapes() throws {
        var rng = RNG(seed: 2)
        let m = MLP(4, hidden: 8, rng: &rng)
        var sd = m.stateDict().mapValues { $0.copy() }
        sd["fc1.weight"]!.fill(0.5)
        try m.load(sd)
        XCTAssertEqual(m.fc1.weight.data[3], 0.5)
        sd["fc2.bias"] = Tensor(zeros: [5])
        XCTAssertThrowsError(try m.load(sd)) { XCTAssertEqual($0 as? ModuleError, .shapeMismatch(path: "fc2.bias", expected: [4], found: [5])) }
        sd.removeValue(forKey: "fc2.bias")
        XCTAssertThrowsError(try m.load(sd)) { XCTAssertEqual($0 as? ModuleError, .missingParameter(path: "fc2.bias")) }
        sd["fc2.bias"] = Tensor(zeros: [4]); sd["extra"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try m.load(sd)) { XCTAssertEqual($0 as? ModuleError, .unexpectedParameter(path: "extra")) }
        XCTAssertNoThrow(try m.load(sd, strict: false))
    }

    /// Two AdamW steps against the update rule written out in Float64.
    func testAdamWMatchesHandComputedSteps() throws {
        let p = try Tensor([1, -2], shape: [2], requiresGrad: true)
        let w = try Tensor([0.5, 3], shape: [1, 2], requiresGrad: true)
        let params = [NamedParameter(name: "p", tensor: p, decays: true), NamedParameter(name: "w", tensor: w, decays: false)]
        let opt = AdamW(params, lr: 0.1, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0.01)
        let grads: [[Double]] = [[0.5, 0.1], [-0.5, 0.2]]
        var ref: [Double] = [1, -2], refW: [Double] = [0.5, 3]
        var m = [0.0, 0.0], v = [0.0, 0.0], mw = [0.0, 0.0], vw = [0.0, 0.0]
        for (t, g) in grads.enumerated() {
            p.grad = try Tensor(g.map(Float.init), shape: [2])
            w.grad = try Tensor(g.map { Float($0 * 2) }, shape: [1, 2])
            opt.step()
            let bc1 = 1 - pow(0.9, Double(t + 1)), bc2 = 1 - pow(0.999, Double(t + 1))
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]; v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                ref[i] = ref[i] * (1 - 0.1 * 0.01) - 0.1 * (m[i] / bc1) / ((v[i] / bc2).squareRoot() + 1e-8)
                let gw = 2 * g[i]
                mw[i] = 0.9 * mw[i] + 0.1 * gw; vw[i] = 0.999 * vw[i] + 0.001 * gw * gw
                refW[i] = refW[i] - 0.1 * (mw[i] / bc1) / ((vw[i] / bc2).squareRoot() + 1e-8)   // no decay
            }
            if t == 0 {   // by hand: m̂ = g, v̂ = g², so p = 1·(1 − 0.001) − 0.1·g/|g| = 0.899
                XCTAssertEqual(p.data[0], 0.899, accuracy: 1e-6)
                XCTAssertEqual(p.data[1], -2.098, accuracy: 1e-6)
            }
            for i in 0..<2 {
                XCTAssertEqual(Double(p.data[i]), ref[i], accuracy: 1e-6, "step \(t + 1) p[\(i)]")
                XCTAssertEqual(Double(w.data[i]), refW[i], accuracy: 1e-6, "step \(t + 1) w[\(i)]")
            }
        }
        // state round trip
        let st = opt.state()
        let opt2 = AdamW(params, lr: 0.1)
        try opt2.loadState(st)
        XCTAssertEqual(opt2.stepCount, 2)
        XCTAssertEqual(opt2.m[0].array, opt.m[0].array)
    }

    func testSGDMomentumAndSchedulesAndClipping() throws {
        let p = try Tensor([1], shape: [1], requiresGrad: true)
        let opt = SGD([NamedParameter(name: "p", tensor: p, decays: true)], lr: 0.1, momentum: 0.9)
        p.grad = Tensor([1]); opt.step()          // b = 1, p = 0.9
        p.grad = Tensor([1]); opt.step()          // b = 1.9, p = 0.71
        XCTAssertEqual(p.data[0], 0.71, accuracy: 1e-6)
        let s = WarmupCosineLR(base: 1, warmup: 10, total: 110, minLR: 0.1)
        XCTAssertEqual(s.lr(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.lr(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.lr(at: 60), 0.55, accuracy: 1e-5)
        XCTAssertEqual(s.lr(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(ConstantLR(0.3).lr(at: 99), 0.3)
        let a = try Tensor([0, 0], shape: [2], requiresGrad: true), b = try Tensor([0], shape: [1], requiresGrad: true)
        a.grad = Tensor([3, 0]); b.grad = Tensor([4])
        let ps = [NamedParameter(name: "a", tensor: a, decays: true), NamedParameter(name: "b", tensor: b, decays: true)]
        XCTAssertEqual(clipGradNorm(ps, maxNorm: 1), 5, accuracy: 1e-5)
        XCTAssertEqual(a.grad!.data[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad!.data[0], 0.8, accuracy: 1e-5)
    }

    /// A small MLP fits y = sin(3x)·x to near-zero loss.
    func testSmallMLPFitsToyRegression() throws {
        var rng = RNG(seed: 3)
        let fc1 = Linear(1, 32, std: 1.0, rng: &rng), fc2 = Linear(32, 1, std: 0.2, rng: &rng)
        let xs = (0..<64).map { Float($0) / 32 - 1 }
        let x = try Tensor(xs, shape: [64, 1]), y = try Tensor(xs.map { Foundation.sin(3 * $0) * $0 }, shape: [64, 1])
        let params = fc1.parameters(prefix: "fc1.") + fc2.parameters(prefix: "fc2.")
        let opt = AdamW(params, lr: 1e-2, weightDecay: 0)
        var last: Float = .infinity
        for _ in 0..<2000 {
            let loss = try fc2(fc1(x).tanh()).mseLoss(y)
            try loss.backward()
            opt.step()
            for p in params { p.tensor.grad = nil }
            last = loss.scalar
        }
        XCTAssertLessThan(last, 1e-3)
    }

    /// After warm-up, a training step of a small ViT allocates no new storage.
    func testTrainingStepAllocatesNothingAfterWarmup() throws {
        var rng = RNG(seed: 4)
        let vit = try ViTClassifier(image: 8, patch: 4, channels: 1, dim: 16, depth: 1, heads: 2, classes: 3, rng: &rng)
        let opt = AdamW(vit.parameters(), lr: 1e-3)
        let x = Tensor.normal([4, 1, 8, 8], rng: &rng)
        func step() throws {
            let loss = try vit(x).crossEntropy([0, 1, 2, 1])
            try loss.backward(); opt.step(); vit.zeroGrad()
        }
        try step(); try step()
        let before = BufferPool.shared.statistics.freshAllocations
        try step()
        XCTAssertEqual(BufferPool.shared.statistics.freshAllocations, before, "a warmed-up step must reuse pooled buffers")
    }
}

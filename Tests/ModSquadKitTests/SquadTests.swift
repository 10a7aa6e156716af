// The squad model end to end: forward shapes per layout, the trainer's loss terms,
// MI specialisation, extraction, router-only transfer, checkpoints, baselines.
import XCTest
import SquadTensor
import SquadNN
@testable import ModSquad

/// A toy multi-task problem on 8×8 RGB images: a global regression, a dense map, a class.
enum Toy {
    static let tasks = [TaskSpec("bright", kind: .global, channels: 1, loss: .mse),
                        TaskSpec("edge", kind: .dense, channels: 1, loss: .l1),
                        TaskSpec("which", kind: .global, channels: 3, loss: .crossEntropy)]

    static func config(layout: String = "both", experts: Int = 4, topK: Int = 2, tasks: [TaskSpec] = Toy.tasks, seed: UInt64 = 1) throws -> SquadConfig {
        var c = SquadConfig()
        c.image = 8; c.patch = 4; c.channels = 3; c.dim = 16; c.depth = 2; c.heads = 2; c.attentionHeadDim = 8
        c.moaHeadsPerExpert = 1; c.moaHeadDim = 8; c.moeHidden = 16; c.mlpRatio = 2
        c.blocks = try SquadConfig.layout(layout, depth: 2, attentionExperts: experts, attentionTopK: topK, mlpExperts: experts, mlpTopK: topK)
        c.tasks = tasks; c.seed = seed
        return c
    }

    static func batch(_ b: Int, rng: inout RNG) -> (Tensor, [String: TaskTarget]) {
        let x = Tensor.normal([b, 3, 8, 8], rng: &rng)
        let bright = Tensor(zeros: [b, 1]), edge = Tensor(zeros: [b, 1, 8, 8])
        var which: [Int] = []
        for i in 0..<b {
            var s: Float = 0
            for j in 0..<192 { s += x.data[i * 192 + j] }
            bright.data[i] = s / 192
            for p in 0..<64 { edge.data[i * 64 + p] = x.data[i * 192 + p] > 0 ? 1 : 0 }
            var best = 0
            for c in 1..<3 where x.data[i * 192 + c * 64] > x.data[i * 192 + best * 64] { best = c }
            which.append(best)
        }
        return (x, ["bright": .values(bright), "edge": .values(edge), "which": .labels(which)])
    }
}

final class SquadTests: XCTestCase {
    func testForwardShapesForEveryLayout() throws {
        var rng = RNG(seed: 1)
        let (x, _) = Toy.batch(2, rng: &rng)
        for layout in ["alternate", "both", "dense", "mlp"] {
            var cfg = try Toy.config(layout: layout)
            cfg.clsToken = layout == "alternate"
            let m = try SquadModel(cfg)
            let out = try Autograd.noGrad { try m(x) }
            XCTAssertEqual(out.predictions["bright"]?.shape, [2, 1], layout)
            XCTAssertEqual(out.predictions["edge"]?.shape, [2, 1, 8, 8], layout)
            XCTAssertEqual(out.predictions["which"]?.shape, [2, 3], layout)
            let moeLayers = cfg.blocks.reduce(0) { n, b in
                var k = n
                if case .moa = b.attention { k += 1 }
                if case .moe = b.mlp { k += 1 }
                return k
            }
            XCTAssertEqual(out.records.count, moeLayers, layout)
        }
        let names = try SquadModel(Toy.config(layout: "alternate")).parameters().map(\.name)
        XCTAssertTrue(names.contains("blocks.0.attn.experts.wq"))
        XCTAssertTrue(names.contains("blocks.0.attn.router.edge.weight"))
        XCTAssertTrue(names.contains("blocks.1.mlp.experts.w1"))
        XCTAssertTrue(names.contains("blocks.1.attn.qkv.weight"))
        XCTAssertTrue(names.contains("task_embed.which"))
        XCTAssertTrue(names.contains("heads.edge.proj.weight"))
        XCTAssertThrowsError(try SquadModel(Toy.config(topK: 5))) { XCTAssertTrue("\($0)".contains("top_k must be in 1...4 (its experts), got 5"), "\($0)") }
        XCTAssertThrowsError(try SquadModel(Toy.config()).callAsFunction(Tensor(zeros: [1, 3, 16, 16]))) {
            XCTAssertTrue("\($0)".contains("expected images [B, 3, 8, 8]"), "\($0)")
        }
    }

    func testPerBlockExpertWidth() throws {
        var cfg = try Toy.config(layout: "both")
        cfg.blocks[1].mlpHidden = 24
        cfg.blocks[1].attentionHeadDim = 4
        let m = try SquadModel(cfg)
        XCTAssertEqual(m.parameter("blocks.0.mlp.experts.w1")?.shape, [4, 16, 16])
        XCTAssertEqual(m.parameter("blocks.1.mlp.experts.w1")?.shape, [4, 16, 24])
        XCTAssertEqual(m.parameter("blocks.1.attn.experts.wq")?.shape, [4, 16, 4])
        var rng = RNG(seed: 3)
        let (x, _) = Toy.batch(2, rng: &rng)
        XCTAssertEqual(try Autograd.noGrad { try m(x) }.predictions["edge"]?.shape, [2, 1, 8, 8])
        cfg.blocks[0].mlpHidden = 0
        XCTAssertThrowsError(try SquadModel(cfg)) { XCTAssertTrue("\($0)".contains("blocks.0.mlp width must be in 1...262144, got 0"), "\($0)") }
    }

    /// One task alone through the fused path equals that task inside the fused batch.
    func testFusedTasksEqualSeparatePasses() throws {
        var rng = RNG(seed: 2)
        let m = try SquadModel(Toy.config(layout: "alternate"))
        let (x, _) = Toy.batch(3, rng: &rng)
        let all = try Autograd.noGrad { try m(x) }
        for t in m.tasks {
            let one = try Autograd.noGrad { try m(x, tasks: [t]) }
            assertClose(one.predictions[t]!, all.predictions[t]!, atol: 1e-5, rtol: 1e-4, t)
        }
    }

    func testTrainerReportsEveryTermAndLearns() throws {
        var rng = RNG(seed: 3)
        let m = try SquadModel(Toy.config())
        var opts = TrainOptions()
        opts.lr = 3e-3; opts.switchWeight = 0.01; opts.zWeight = 0.001; opts.weighting = .uncertainty
        let tr = Trainer(m, options: opts)
        let (x, y) = Toy.batch(16, rng: &rng)
        let first = try tr.trainStep(x, y)
        XCTAssertEqual(first.taskLosses.map(\.0), ["bright", "edge", "which"])
        XCTAssertEqual(first.aux.map(\.0), ["mi", "switch", "z"])
        XCTAssertTrue(first.description.contains("mi "), first.description)
        var last = first
        for _ in 0..<40 { last = try tr.trainStep(x, y) }
        XCTAssertLessThan(last.taskLosses[1].1, first.taskLosses[1].1 * 0.9, "edge L1 falls: \(first) → \(last)")
        XCTAssertNotEqual(tr.sigma["edge"]!.scalar, 1, "uncertainty weights are learned")
        XCTAssertThrowsError(try tr.trainStep(x, ["bright": y["bright"]!])) { XCTAssertTrue("\($0)".contains("'edge': no target"), "\($0)") }
    }

    /// With the MI loss on, per-task usage gets more peaked (lower H(E|T)) than with it off.
    func testMILossLowersConditionalEntropy() throws {
        func meanConditionalEntropy(mi: Float) throws -> Double {
            let m = try SquadModel(Toy.config(experts: 6, topK: 2, seed: 5))
            var opts = TrainOptions()
            opts.lr = 1e-2; opts.miWeight = mi; opts.weightDecay = 0
            let tr = Trainer(m, options: opts)
            var rng = RNG(seed: 6)
            for _ in 0..<60 { let (x, y) = Toy.batch(8, rng: &rng); try tr.trainStep(x, y) }
            let hs = m.usage.layers.compactMap { m.usage.entropy(layer: $0)?.conditional }
            XCTAssertEqual(hs.count, 4)
            return hs.reduce(0, +) / Double(hs.count)
        }
        let off = try meanConditionalEntropy(mi: 0), on = try meanConditionalEntropy(mi: 1)
        XCTAssertLessThan(on, off - 0.05, "H(E|T) with MI \(on) vs without \(off)")
    }

    /// The extracted model reproduces the full model on the images whose tokens only chose kept experts.
    func testExtractedModelMatchesFullModelOnKeptExperts() throws {
        var rng = RNG(seed: 7)
        let m = try SquadModel(Toy.config(experts: 8, topK: 2, seed: 8))
        let tr = Trainer(m, options: { var o = TrainOptions(); o.lr = 5e-3; return o }())
        for _ in 0..<10 { let (x, y) = Toy.batch(8, rng: &rng); try tr.trainStep(x, y) }
        // Usage from exactly this batch: kept = experts its "edge" tokens choose.
        let (x, _) = Toy.batch(1, rng: &rng)
        m.usage.reset()
        let full = try Autograd.noGrad { try m(x, tasks: ["edge"]) }
        m.usage.update(full.records)
        let (small, report) = try m.extract(task: "edge", threshold: 1e-9)
        XCTAssertLessThan(report.parametersAfter, report.parametersBefore)
        XCTAssertTrue(report.keptPerLayer.contains { $0.kept.count < $0.of }, "some expert is dropped: \(report)")
        XCTAssertEqual(small.tasks, ["edge"])
        let out = try Autograd.noGrad { try small(x) }
        assertClose(out.predictions["edge"]!, full.predictions["edge"]!, atol: 1e-5, rtol: 1e-4, "extracted vs full")
        // its own checkpoint, smaller on disk, same outputs after loading
        let dir = temporaryDirectory()
        try Checkpoint.save(m, to: dir.appendingPathComponent("full.safetensors"))
        try Checkpoint.save(small, to: dir.appendingPathComponent("edge.safetensors"))
        let size = { (n: String) in try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(n).path)[.size] as! Int }
        XCTAssertLessThan(try size("edge.safetensors"), try size("full.safetensors"))
        let loaded = try Checkpoint.load(dir.appendingPathComponent("edge.safetensors")).model
        let again = try Autograd.noGrad { try loaded(x) }
        assertClose(again.predictions["edge"]!, full.predictions["edge"]!, atol: 1e-5, rtol: 1e-4, "reloaded extracted")
    }

    func testKeepRuleUsesThresholdOverKAndAtLeastK() throws {
        let m = try SquadModel(Toy.config(experts: 4, topK: 2))
        m.usage.set(layer: "blocks.0.attn", task: "edge", ema: [50, 1, 0.5, 48.5])   // % = same numbers
        XCTAssertEqual(m.keptExperts(task: "edge", layer: "blocks.0.attn", experts: 4, topK: 2, threshold: 3), [0, 3])
        XCTAssertEqual(m.keptExperts(task: "edge", layer: "blocks.0.attn", experts: 4, topK: 2, threshold: 1.9), [0, 1, 3])
        m.usage.set(layer: "blocks.0.attn", task: "edge", ema: [97, 1, 1, 1])
        XCTAssertEqual(m.keptExperts(task: "edge", layer: "blocks.0.attn", experts: 4, topK: 2, threshold: 3), [0, 1], "at least k, by usage then index")
    }

    /// Router-only transfer: every expert and shared weight is bit-identical afterwards.
    func testTransferFreezesAllButNewRoutersEmbeddingAndHead() throws {
        var rng = RNG(seed: 9)
        let m = try SquadModel(Toy.config(tasks: Array(Toy.tasks.prefix(2))))
        let tr = Trainer(m)
        for _ in 0..<3 { let (x, y) = Toy.batch(4, rng: &rng); try tr.trainStep(x, y) }
        let before = m.stateDict().mapValues { $0.copy() }
        try m.attachForTransfer(Toy.tasks[2])
        let names = Set(m.trainableParameters().map(\.name))
        XCTAssertEqual(names, ["task_embed.which", "blocks.0.attn.router.which.weight", "blocks.0.mlp.router.which.weight",
                               "blocks.1.attn.router.which.weight", "blocks.1.mlp.router.which.weight",
                               "heads.which.norm.weight", "heads.which.norm.bias", "heads.which.proj.weight", "heads.which.proj.bias"])
        let newParams = m.stateDict().filter { before[$0.key] == nil }.mapValues { $0.copy() }
        let ft = Trainer(m, options: { var o = TrainOptions(); o.lr = 1e-2; return o }())
        for _ in 0..<5 {
            let (x, y) = Toy.batch(4, rng: &rng)
            try ft.trainStep(x, ["which": y["which"]!, "bright": y["bright"]!, "edge": y["edge"]!])
        }
        for (name, old) in before { XCTAssertEqual(m.parameter(name)!.array, old.array, "\(name) must stay frozen") }
        XCTAssertTrue(newParams.contains { m.parameter($0.key)!.array != $0.value.array }, "the new task's parameters train")
    }

    func testCheckpointRoundTripWithOptimizerState() throws {
        var rng = RNG(seed: 10)
        let m = try SquadModel(Toy.config(layout: "alternate"))
        let tr = Trainer(m)
        let (x, y) = Toy.batch(4, rng: &rng)
        for _ in 0..<2 { try tr.trainStep(x, y) }
        let url = temporaryDirectory().appendingPathComponent("squad.safetensors")
        try Checkpoint.save(m, trainer: tr, to: url)
        let (m2, step, extra) = try Checkpoint.load(url)
        XCTAssertEqual(step, 2)
        XCTAssertEqual(m2.config, m.config)
        let tr2 = Trainer(m2)
        try Checkpoint.restore(tr2, from: extra, step: step)
        XCTAssertEqual(tr2.optimizer.stepCount, 2)
        for (a, b) in zip(m2.usage.percentages(layer: "blocks.0.attn", task: "edge")!, m.usage.percentages(layer: "blocks.0.attn", task: "edge")!) {
            XCTAssertEqual(a, b, accuracy: 1e-4, "usage statistics are saved (as float32)")
        }
        // the next step is the same in both
        let a = try tr.trainStep(x, y), b = try tr2.trainStep(x, y)
        XCTAssertEqual(a.total, b.total, accuracy: 1e-5)
        let bad = temporaryDirectory().appendingPathComponent("plain.safetensors")
        try SafeTensors.write(["w": Tensor(zeros: [2])], to: bad)
        XCTAssertThrowsError(try Checkpoint.load(bad)) { XCTAssertTrue("\($0)".contains("not a ModSquad checkpoint"), "\($0)") }
    }

    func testMetricsAndDeltaM() throws {
        let seg = TaskSpec("seg", kind: .dense, channels: 2, loss: .crossEntropy)
        // 1 image, 2 classes, 2×1 pixels: logits favour class 1 then 0; labels 1, 1
        let pred = try Tensor([0, 1, 1, 0], shape: [1, 2, 2, 1])
        let ms = try Metrics.compute(seg, pred, .labels([1, 1]))
        XCTAssertEqual(ms.first { $0.name == "pixel_acc" }!.value, 0.5)
        XCTAssertEqual(ms.first { $0.name == "miou" }!.value, 0.25, accuracy: 1e-9)   // class1: 1/2, class0: 0/1
        let nrm = TaskSpec("n", kind: .dense, channels: 3, loss: .cosine)
        // channel-major: prediction (1,0,0) at both pixels; target (1,0,0) then (0,1,0)
        let p = try Tensor([1, 1, 0, 0, 0, 0], shape: [1, 3, 2, 1]), t = try Tensor([1, 0, 0, 1, 0, 0], shape: [1, 3, 2, 1])
        let an = try Metrics.compute(nrm, p, .values(t))
        XCTAssertEqual(an[0].value, 45, accuracy: 1e-6)   // 0° and 90°
        XCTAssertEqual(an[1].value, 0.5)
        let dm = Metrics.deltaM(["a": [Metric("acc", 0.9, higherIsBetter: true)], "b": [Metric("err", 0.5, higherIsBetter: false)]],
                                reference: ["a": [Metric("acc", 0.8, higherIsBetter: true)], "b": [Metric("err", 0.4, higherIsBetter: false)]])
        XCTAssertEqual(dm, 100 * (0.125 - 0.25) / 2, accuracy: 1e-9)
    }
}

final class BaselineTests: XCTestCase {
    func testBaselinesShareCodeAndFormat() throws {
        let cfg = try Toy.config(layout: "alternate")
        let stl = try cfg.baseline(.stl)
        XCTAssertEqual(stl.map { $0.tasks.map(\.name) }, [["bright"], ["edge"], ["which"]])
        XCTAssertFalse(stl[0].hasExperts)
        let mtl = try SquadModel(cfg.baseline(.mtl)[0])
        XCTAssertTrue(mtl.config.sharedBackbone)
        var rng = RNG(seed: 1)
        let (x, y) = Toy.batch(2, rng: &rng)
        let out = try mtl(x)
        XCTAssertEqual(out.predictions.count, 3)
        XCTAssertTrue(out.records.isEmpty)
        let m3 = try SquadModel(cfg.baseline(.m3vit)[0])
        XCTAssertEqual(m3.routers.map(\.tasks), [["shared"]], "one shared router in the one MoE-MLP block")
        let tr = Trainer(m3, options: { var o = TrainOptions(); o.miWeight = 0; return o }())
        let log = try tr.trainStep(x, y)
        XCTAssertTrue(log.aux.isEmpty)
        // the same checkpoint format
        let url = temporaryDirectory().appendingPathComponent("m3.safetensors")
        try Checkpoint.save(m3, to: url)
        XCTAssertEqual(try Checkpoint.load(url).model.config, m3.config)
    }
}

final class GuardTests: XCTestCase {
    /// A NaN step is reported (which task) and skipped with the weights untouched; M in a row stop training.
    func testNonFiniteStepsAreSkippedThenTrainingStops() throws {
        var rng = RNG(seed: 50)
        let m = try SquadModel(Toy.config())
        var o = TrainOptions(); o.maxBadSteps = 3
        let tr = Trainer(m, options: o)
        let (x, y) = Toy.batch(4, rng: &rng)
        try tr.trainStep(x, y)
        let good = m.stateDict().mapValues { $0.array }
        var bad = y
        bad["bright"] = .values(Tensor(repeating: .nan, shape: [4, 1]))
        for i in 1...2 {
            let log = try tr.trainStep(x, bad)
            XCTAssertEqual(log.skipped, "loss of task 'bright' is nan", "step \(i)")
            XCTAssertTrue(log.description.contains("skipped"), log.description)
        }
        for (k, v) in good { XCTAssertEqual(m.parameter(k)!.array, v, "\(k) untouched by skipped steps") }
        XCTAssertThrowsError(try tr.trainStep(x, bad)) {
            XCTAssertEqual($0 as? TrainingError, .diverged(step: 1, count: 3, last: "loss of task 'bright' is nan"))
        }
        for (k, v) in good { XCTAssertEqual(m.parameter(k)!.array, v, k) }
        XCTAssertEqual(tr.skippedSteps, 3)
        // a good step resets the streak
        XCTAssertNil(try tr.trainStep(x, y).skipped)
        XCTAssertEqual(tr.skippedInARow, 0)
    }
}

final class ConfigGuardTests: XCTestCase {
    func testAModelTooLargeForMemoryIsRefusedUpFront() throws {
        var c = try Toy.config(layout: "both")
        c.dim = 16384; c.moeHidden = 262_144   // within every range, far beyond memory
        XCTAssertThrowsError(try SquadModel(c)) { XCTAssertTrue("\($0)".contains("GiB for weights, gradients and optimizer state"), "\($0)") }
        // task heads count: a 100,000-class head on a 4096-wide model is 4e8 parameters of its own
        var h = try Toy.config()
        let without = h.estimatedParameters
        h.dim = 4096
        let wide = h.estimatedParameters
        h.tasks.append(TaskSpec("big", kind: .global, channels: 100_000, loss: .crossEntropy))
        XCTAssertGreaterThan(h.estimatedParameters - wide, 4096 * 100_000)
        XCTAssertGreaterThan(wide, without)
        let ok = try Toy.config()
        let m = try SquadModel(ok)
        XCTAssertEqual(ok.estimatedParameters / Double(m.parameterCount), 1, accuracy: 0.1, "the estimate is close to the real count")
    }
}

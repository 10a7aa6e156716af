// Exact resume: N steps + save + load + N steps gives the same losses as 2N steps
// uninterrupted, bit for bit with one thread (weights, AdamW moments, step, RNG and
// data order all come back).
import XCTest
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData
import BuiltinPlugins
import SquadScript

final class ResumeTests: XCTestCase {
    func makeRun(_ reg: PluginRegistry) throws -> (SquadModel, Trainer, DataLoader) {
        let ds = try ScenesDataset(size: 16, train: 48, test: 8, tasks: ["segment", "depth", "count"], seed: 3, cache: false)
        var c = SquadConfig()
        c.image = 16; c.patch = 4; c.channels = ds.channels; c.dim = 16; c.depth = 2; c.heads = 2; c.attentionHeadDim = 8
        c.moaHeadDim = 8; c.moeHidden = 16; c.mlpRatio = 2
        c.blocks = try SquadConfig.layout("alternate", depth: 2, attentionExperts: 4, attentionTopK: 2, mlpExperts: 4, mlpTopK: 2)
        c.gate.noiseStd = 0.1   // draws from the model's RNG: it must come back too
        c.tasks = try ds.taskNames.map { try reg.task($0).spec() }
        let m = try SquadModel(c)
        var o = TrainOptions(); o.lr = 3e-3; o.warmupSteps = 2; o.totalSteps = 12
        let tr = Trainer(m, options: o)
        try reg.bind(m, trainer: tr)
        return (m, tr, DataLoader(ds, split: .train, batchSize: 8, seed: 9, augment: true))
    }

    func testSaveAndResumeGivesTheSameLossesBitForBit() throws {
        let threads = Engine.threads
        Engine.threads = 1
        defer { Engine.threads = threads }
        let reg = PluginRegistry()
        try BuiltinPlugins.register(into: reg)
        // 2N uninterrupted (N = 6: the loader wraps its 6-batch epoch once)
        let (_, trA, loadA) = try makeRun(reg)
        var straight: [Float] = []
        for _ in 0..<12 { let (x, y) = try loadA.next(); straight.append(try trA.trainStep(x, y).total) }
        // N, save, load into a fresh process state, N more
        let (mB, trB, loadB) = try makeRun(reg)
        var resumed: [Float] = []
        for _ in 0..<6 { let (x, y) = try loadB.next(); resumed.append(try trB.trainStep(x, y).total) }
        let url = temporaryDirectory().appendingPathComponent("run.safetensors")
        try Checkpoint.save(mB, trainer: trB, loader: (loadB.epoch, loadB.position), to: url)
        let (mC, step, extra) = try Checkpoint.load(url)
        let trC = Trainer(mC, options: trB.options)
        try reg.bind(mC, trainer: trC)
        try Checkpoint.restore(trC, from: extra, step: step)
        let (_, _, loadC) = try makeRun(reg)
        let pos = try XCTUnwrap(Checkpoint.loaderPosition(url))
        loadC.seek(epoch: pos.epoch, position: pos.position)
        for _ in 0..<6 { let (x, y) = try loadC.next(); resumed.append(try trC.trainStep(x, y).total) }
        XCTAssertEqual(resumed, straight, "losses after resume must match bit for bit")
    }

    /// Saving over an existing checkpoint never leaves a torn file: a reader sees the old or the new one.
    func testCheckpointWritesAreAtomic() throws {
        let (m, tr, load) = try makeRun({ let r = PluginRegistry(); try BuiltinPlugins.register(into: r); return r }())
        let url = temporaryDirectory().appendingPathComponent("ckpt.safetensors")
        try Checkpoint.save(m, trainer: tr, to: url)
        let (x, y) = try load.next()
        try tr.trainStep(x, y)
        try Checkpoint.save(m, trainer: tr, to: url)
        let files = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        XCTAssertEqual(files, ["ckpt.safetensors"], "no temporary files left behind")
        XCTAssertEqual(try Checkpoint.load(url).step, 1)
    }
}

/// The same through the language: train(checkpoint:, save_every:) then train(resume:) in a fresh session.
final class ScriptResumeTests: XCTestCase {
    func testTrainResumeInANewSessionMatchesAnUninterruptedRun() throws {
        let threads = Engine.threads
        Engine.threads = 1
        defer { Engine.threads = threads }
        let setup = "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8, seed: 5)\n"
        // uninterrupted: 8 steps; interrupted: the same call checkpointing at 4, resumed elsewhere
        let (a, _) = makeSession()
        exec(a, setup + "train(m, data, steps: 8, batch: 4, lr: 3e-3, warmup: 2)\nsave(m, \"a.safetensors\")")
        let (b, _) = makeSession()
        exec(b, setup + "train(m, data, steps: 8, batch: 4, lr: 3e-3, warmup: 2, checkpoint: \"b-{step}.safetensors\", save_every: 4)")
        let (c, outC) = makeSession()
        let ck = b.resolve("b-4.safetensors").path
        exec(c, setup + "train(m, data, steps: 8, batch: 4, lr: 3e-3, warmup: 2, resume: \"\(ck)\")\nsave(m, \"c.safetensors\")")
        XCTAssertTrue(outC.text.contains("resumed from b-4.safetensors: step 4, 4 of 8 steps done"), outC.text)
        let wa = try SafeTensors.read(a.resolve("a.safetensors")).tensors, wc = try SafeTensors.read(c.resolve("c.safetensors")).tensors
        let wb = try SafeTensors.read(b.resolve("b-8.safetensors")).tensors
        for (k, v) in wa where !k.hasPrefix("usage.") {
            XCTAssertEqual(wc[k]?.array, v.array, "\(k): resumed run differs")
            XCTAssertEqual(wb[k]?.array, v.array, "\(k): checkpointing changed the run")
        }
        // a checkpoint from another run length is refused with a clear message
        let (d, _) = makeSession()
        assertError(execError(d, setup + "train(m, data, steps: 6, batch: 4, resume: \"\(ck)\")"), .argument, line: 3, column: 36, "belongs to a run of 8 steps")
    }
}

// Reliability of the language and of training calls: resume exactness over every stateful option, deep and
// long expressions, ranges of builtin arguments and stored configs, absurd labels, checkpoint folders.
import XCTest
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadData
import SquadScript

/// The model a session calls `m`.
func modelVariable(_ s: Interpreter, _ name: String = "m") -> ModelValue? {
    if case .object(let m as ModelValue)? = s.variables[name] { return m }
    return nil
}

final class ResumeMatrixTests: XCTestCase {
    /// For each option with state: a straight 12-step run against the same call checkpointed at step 6 and
    /// resumed in a fresh session. Every saved tensor (weights, AdamW moments and steps, σ, usage) must agree.
    func testResumeIsExactForEveryStatefulOption() throws {
        let threads = Engine.threads
        Engine.threads = 1
        defer { Engine.threads = threads }
        let matrix: [(name: String, model: String, train: String)] = [
            ("uncertainty weighting", "", "weighting: \"uncertainty\""),
            ("noisy gating", "noise: 0.5", ""),
            ("capacity", "capacity: 1", ""),
            ("constant schedule", "", "schedule: \"constant\""),
            ("clip", "", "clip: 0.05"),
            ("eval every epoch", "", "eval: true"),
            ("MI weight", "", "mi: 0.05"),
            ("switch and z losses", "", "switch: 0.01, z: 0.001"),
            ("no augmentation", "", "augment: false"),
            ("all at once", "noise: 0.3, capacity: 1.5",
             "weighting: \"uncertainty\", clip: 0.5, mi: 0.02, schedule: \"constant\", eval: true, weight_decay: 0.1"),
        ]
        for (name, modelOpts, trainOpts) in matrix {
            let mo = modelOpts.isEmpty ? "" : ", " + modelOpts, to = trainOpts.isEmpty ? "" : ", " + trainOpts
            let setup = "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8, seed: 5\(mo))\n"
            let call = "train(m, data, steps: 12, batch: 8, lr: 3e-3, warmup: 2\(to)"
            let (a, _) = makeSession()
            exec(a, setup + call + ")\nsave(m, \"a.safetensors\")")
            let (b, _) = makeSession()
            exec(b, setup + call + ", checkpoint: \"b-{step}.safetensors\", save_every: 6)")
            let (c, outC) = makeSession()
            let ck = b.resolve("b-6.safetensors").path
            exec(c, setup + call + ", resume: \"\(ck)\")\nsave(m, \"c.safetensors\")")
            XCTAssertTrue(outC.text.contains("6 of 12 steps done"), "\(name): \(outC.text)")
            let wa = try SafeTensors.read(a.resolve("a.safetensors")).tensors
            let wc = try SafeTensors.read(c.resolve("c.safetensors")).tensors
            XCTAssertEqual(Set(wa.keys), Set(wc.keys), "\(name): the resumed run saves other tensors")
            // Weights, moments, steps and σ agree bit for bit; usage statistics are running means kept in
            // double precision and saved as float32, so they agree to float32 rounding.
            var differing: [String] = []
            for (k, v) in wa {
                guard let w = wc[k] else { differing.append(k); continue }
                if k.hasPrefix("usage.") {
                    if zip(v.array, w.array).contains(where: { abs($0 - $1) > 1e-6 * max(1, abs($0)) }) { differing.append(k) }
                } else if w.array != v.array { differing.append(k) }
            }
            XCTAssertTrue(differing.isEmpty, "\(name): resumed run differs in \(differing.count) tensors, e.g. \(differing.sorted().prefix(4))")
        }
    }

    /// A σ added to the optimizer later (weighting switched after some steps) keeps every other parameter's
    /// moments and steps: rebuilding the optimizer used to drop them all at the first new parameter.
    func testAddingAParameterKeepsTheOthersOptimizerState() throws {
        let (s, _) = makeSession()
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\ntrain(m, data, steps: 3, batch: 4)")
        let m = modelVariable(s)
        let before = try XCTUnwrap(m?.trainer).optimizer.state()
        exec(s, "train(m, data, steps: 1, batch: 4, weighting: \"uncertainty\")")
        let after = try XCTUnwrap(m?.trainer).optimizer.state()
        XCTAssertEqual(after["step.patch_embed.proj.weight"]?.scalar, 4)
        XCTAssertEqual(after["step.loss_weights.tseg"]?.scalar, 1, "a new σ starts its own bias correction")
        XCTAssertNotEqual(after["exp_avg.patch_embed.proj.weight"]?.array, before["exp_avg.patch_embed.proj.weight"]?.array)
        XCTAssertEqual(before["step"]?.scalar, 3)
    }
}

final class DeepExpressionTests: XCTestCase {
    func testFlatChainsOfTenThousandTermsEvaluate() {
        let (s, _) = makeSession()
        let n = 10_000
        exec(s, "x = " + Array(repeating: "1", count: n).joined(separator: "+"))
        XCTAssertEqual(s.variables["x"].flatMap { if case .number(let d) = $0 { return d }; return nil }, Double(n))
        exec(s, "y = 1" + String(repeating: " * 2 / 2", count: n / 2) + " - 1")
        XCTAssertEqual(s.variables["y"].flatMap { if case .number(let d) = $0 { return d }; return nil }, 0)
        exec(s, "z = [" + Array(repeating: "1", count: 100_000).joined(separator: ", ") + "]")
    }

    func testNestingBeyondTheLimitIsALocatedErrorNotACrash() {
        let (s, _) = makeSession()
        let cases: [(String, Int)] = [
            ("x = " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000), 5),
            ("x = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), 5),
            ("x = " + String(repeating: "- ", count: 100_000) + "1", 5),
            ("x = " + String(repeating: "abs(", count: 50_000) + "1" + String(repeating: ")", count: 50_000), 5),
            ("x = 1" + String(repeating: ".a", count: 5000), 5),
        ]
        for (src, col) in cases {
            guard let e = execError(s, src) else { continue }
            XCTAssertEqual(e.kind, .syntax, e.message)
            XCTAssertTrue(e.message.contains("nested deeper than \(maxExpressionNesting)"), e.message)
            XCTAssertEqual(e.location?.line, 1)
            XCTAssertGreaterThanOrEqual(e.location?.column ?? 0, col)
        }
        // the session survives, and nesting up to the limit works
        let ok = "x = " + String(repeating: "(", count: 150) + "2" + String(repeating: ")", count: 150) + " + " + String(repeating: "-(", count: 60) + "v" + String(repeating: ")", count: 60)
        exec(s, "v = 1\n" + ok)
        XCTAssertEqual(s.variables["x"].flatMap { if case .number(let d) = $0 { return d }; return nil }, 3)
    }

    /// A tree built without the parser (e.g. by a tool) is refused by the evaluator too.
    func testTheEvaluatorRefusesTooDeepTrees() throws {
        let (s, _) = makeSession()
        let file = SourceFile(name: "built", text: "x")
        let loc = SourceLocation(file: file, line: 1, column: 1)
        var e = Expr(.number(1), loc)
        for _ in 0..<(maxExpressionNesting + 5) { e = Expr(.negate(e), loc) }
        XCTAssertThrowsError(try s.execute(.expression(e))) { err in
            XCTAssertTrue("\(err)".contains("nested deeper than"), "\(err)")
        }
    }
}

final class ArgumentRangeTests: XCTestCase {
    func testConstructorArgumentsAreCheckedAndNamed() {
        let (s, _) = makeSession()
        let cases: [(String, String)] = [
            ("squad(tasks: [\"tseg\"], channels: -3)", "'channels' must be in [1, 64], got -3"),
            ("vit(tasks: [\"tseg\"], channels: -3)", "'channels' must be in [1, 64], got -3"),
            ("squad(tasks: [\"tseg\"], channels: 0)", "'channels' must be in"),
            ("squad(tasks: [\"tseg\"], channels: 1000)", "'channels' must be in [1, 64], got 1000"),
            ("squad(tasks: [\"tseg\"], capacity: -1)", "'capacity' must be in [0, 1024], got -1"),
            ("squad(tasks: [\"tseg\"], noise: -1)", "'noise' must be in [0, 100], got -1"),
            ("squad(tasks: [])", "'tasks' is an empty list"),
            ("squad(tasks: [\"tseg\"], image: 0)", "'image' must be in [1, 4096], got 0"),
            ("squad(tasks: [\"tseg\"], image: 30)", "'image' image 30 is not a multiple of patch 4"),
            ("squad(tasks: [\"tseg\"], heads: -2)", "'heads' must be in [1, 1024], got -2"),
            ("squad(tasks: [\"tseg\"], dim: 1e9)", "'dim' must be in [1, 16384]"),
            ("attach(squad(tasks: [\"tseg\"], dim: 8, depth: 1), \"new\", channels: -3, loss: \"l1\")", "'channels' must be in"),
        ]
        for (src, fragment) in cases {
            let e = execError(s, "m = " + src)
            XCTAssertEqual(e?.kind, .argument, "\(src): \(e?.rendered ?? "no error")")
            XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(src): '\(fragment)' not in \(e?.message ?? "no error")")
        }
    }

    func testTrainingOptionsOutOfRangeFailBeforeTheFirstStep() {
        let (s, _) = makeSession()
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)")
        for (arg, fragment) in [("lr: -1", "'lr' must be in (0, 10], got -1"), ("lr: 0", "'lr' must be in (0, 10]"),
                                ("weight_decay: -0.1", "'weight_decay'"), ("clip: -1", "'clip'"), ("mi: -1", "'mi'"),
                                ("batch: 0", "'batch'"), ("min_lr: -1", "'min_lr'"), ("epochs: 0", "'epochs'")] {
            let e = execError(s, "train(m, data, steps: 3, \(arg))")
            XCTAssertTrue(e?.message.contains(fragment) ?? false, "\(arg): \(e?.message ?? "no error")")
        }
        let m = modelVariable(s)
        XCTAssertEqual(m?.steps, 0, "no step was taken")
    }

    /// The rule behind the checks: every numeric parameter of every builtin (core and built-in plugins) has a
    /// documented range, shown by help, and its default lies in it.
    func testEveryNumericParameterHasADocumentedRange() throws {
        let (s, _) = try makeBuiltinSession()
        var missing: [String] = []
        for name in s.table.names {
            guard let b = s.table.lookup(name) else { continue }
            for p in b.params where p.type.isNumeric {
                guard let r = p.effectiveRange else { missing.append("\(b.name).\(p.name)"); continue }
                if case .number(let d)? = p.defaultValue { XCTAssertTrue(r.contains(d), "\(b.name).\(p.name): default \(d) outside \(r)") }
                XCTAssertTrue(b.help.contains("\(p.name):") && b.help.contains("in \(r)"), "\(b.name).\(p.name): help does not show \(r)")
            }
        }
        XCTAssertEqual(missing, [], "numeric parameters without a range")
    }
}

final class StoredConfigTests: XCTestCase {
    /// A checkpoint whose stored config lies is refused with the path and the parameter, before anything is built.
    func testACheckpointWithALyingConfigIsRefused() throws {
        let dir = temporaryDirectory("msq-lying")
        var c = SquadConfig()
        c.dim = 8; c.depth = 1; c.heads = 1; c.attentionHeadDim = 8; c.moaHeadDim = 8; c.moeHidden = 16; c.image = 8
        c.blocks = try SquadConfig.layout("dense", depth: 1, attentionExperts: 1, attentionTopK: 1, mlpExperts: 1, mlpTopK: 1)
        c.tasks = [TaskSpec("t", kind: .global, channels: 2, loss: .crossEntropy)]
        let good = dir.appendingPathComponent("good.safetensors")
        try Checkpoint.save(try SquadModel(c), to: good)
        let (tensors, meta) = try SafeTensors.read(good)
        for (key, bad, fragment) in [("\"patch\":4", "\"patch\":0", "patch must be in 1...4096, got 0"),
                                     ("\"channels\":3", "\"channels\":-3", "channels must be in 1...64, got -3"),
                                     ("\"image\":8", "\"image\":7", "image 7 is not a multiple of patch 4"),
                                     ("\"channels\":2", "\"channels\":1000000000", "channels must be in 1...100000")] {
            var m = meta
            let json = try XCTUnwrap(m[Checkpoint.configKey])
            XCTAssertTrue(json.contains(key), "\(key) not in \(json)")
            m[Checkpoint.configKey] = json.replacingOccurrences(of: key, with: bad)
            let url = dir.appendingPathComponent("lying.safetensors")
            try SafeTensors.write(tensors, metadata: m, to: url)
            XCTAssertThrowsError(try Checkpoint.load(url)) { e in
                XCTAssertTrue("\(e)".contains(fragment) && "\(e)".contains("lying.safetensors"), "\(e)")
            }
        }
    }
}

final class DataReliabilityTests: XCTestCase {
    func writeFolder(_ rows: [(String, Int)]) throws -> URL {
        let dir = temporaryDirectory("msq-labels")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("img"), withIntermediateDirectories: true)
        var lines = ["image,split,class:class"]
        for (i, (split, label)) in rows.enumerated() {
            let img = Tensor(repeating: Float(i % 7) / 7, shape: [3, 8, 8])
            try PNG.write(img, to: dir.appendingPathComponent("img/\(i).png"))
            lines.append("img/\(i).png,\(split),\(label)")
        }
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("manifest.csv"), atomically: true, encoding: .utf8)
        return dir
    }

    func testAnAbsurdClassLabelIsRejectedWithItsRow() throws {
        let dir = try writeFolder([("train", 0), ("train", 1), ("test", 1_000_000_000), ("test", 0)])
        XCTAssertThrowsError(try FolderDataset(path: dir.path)) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("manifest.csv, row 4") && d.contains("1000000000") && d.contains("above the limit"), d)
        }
    }

    /// A label the model's head cannot take names the manifest row before the first step.
    func testALabelBeyondTheHeadNamesTheManifestRow() throws {
        let dir = try writeFolder([("train", 0), ("train", 1), ("train", 12), ("test", 0)])
        let (s, _) = try makeBuiltinSession()
        let e = execError(s, "data = folder(\"\(dir.path)\")\nm = vit(tasks: data, dim: 8, depth: 1, head_dim: 8)\ntrain(m, data, steps: 2, batch: 2)")
        XCTAssertTrue(e?.message.contains("manifest.csv") ?? false, e?.rendered ?? "no error")
        XCTAssertTrue(e?.message.contains(", row 4:") ?? false, e?.rendered ?? "no error")
        XCTAssertTrue(e?.message.contains("has 10 classes") ?? false, e?.rendered ?? "no error")
    }

    func testTrainCreatesTheCheckpointFolderAndChecksItFirst() throws {
        let (s, _) = makeSession()
        exec(s, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, top_k: 2, head_dim: 8)\ntrain(m, data, steps: 4, batch: 4, checkpoint: \"ckpt/run-{step}.safetensors\", save_every: 2)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.resolve("ckpt/run-2.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.resolve("ckpt/run-4.safetensors").path))
        // a folder that cannot be made fails before the first step, naming the parameter
        try "x".write(to: s.resolve("afile"), atomically: true, encoding: .utf8)
        let e = execError(s, "train(m, data, steps: 4, batch: 4, checkpoint: \"afile/run.safetensors\")")
        XCTAssertTrue(e?.message.contains("'checkpoint'") ?? false, e?.rendered ?? "no error")
        XCTAssertEqual(modelVariable(s)?.steps, 4, "the failing call took no step")
    }
}

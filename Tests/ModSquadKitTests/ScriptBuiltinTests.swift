// The model, data, training and plot builtins on toy plugins: layouts, step-by-step training, train/eval/extract, transfer, save/load, baselines, plots, fast mode.
import XCTest
import Foundation
import SquadScript

final class ScriptBuiltinTests: XCTestCase {
    let small = "dim: 16, depth: 2, experts: 4, head_dim: 8"

    func session(_ tasks: String = "") -> (Interpreter, TestOutput) {
        let (i, out) = makeSession()
        exec(i, "data = toy(\(tasks))\nm = squad(tasks: data, \(small))")
        return (i, out)
    }

    func testDatasetBuiltinsComeFromPlugins() {
        let (i, _) = makeSession()
        XCTAssertEqual(exec(i, "d = toy(train: 10, test: 4, tasks: [\"tseg\", \"tcls\"])\nd"), "toy: 10 train / 4 test, 3×8×8, tasks tseg, tcls\n")
        XCTAssertEqual(exec(i, "d.tasks; d.train; d.size"), "[\"tseg\", \"tcls\"]\n10\n8\n")
        XCTAssertEqual(exec(i, "toy(12).size"), "12\n")
    }

    func testSquadLayoutsPerBlock() {
        let (i, _) = makeSession()
        exec(i, "data = toy()")
        XCTAssertEqual(exec(i, "squad(tasks: data, dim: 16, depth: 4, experts: 4, top_k: 2, head_dim: 8).blocks"),
                       "[\"MoA 4/top-2 + dense\", \"dense + MoE 4/top-2\", \"MoA 4/top-2 + dense\", \"dense + MoE 4/top-2\"]\n")
        XCTAssertEqual(exec(i, "squad(tasks: data, dim: 16, depth: 2, layout: \"both\", attn_experts: 3, mlp_experts: 5, top_k: 1, head_dim: 8).blocks"),
                       "[\"MoA 3/top-1 + MoE 5/top-1\", \"MoA 3/top-1 + MoE 5/top-1\"]\n")
        let explicit = exec(i, """
        m = squad(tasks: data, dim: 16, head_dim: 8, experts: 4,
                  layout: ["moa", "moe", "dense", block(attn: "moa", mlp: "moe", experts: 6, top_k: 3)])
        m.blocks; m.depth
        """)
        XCTAssertEqual(explicit, "[\"MoA 4/top-2 + dense\", \"dense + MoE 4/top-2\", \"dense + dense\", \"MoA 6/top-3 + MoE 6/top-3\"]\n4\n")
        XCTAssertEqual(exec(i, "squad(tasks: data, dim: 16, depth: 2, layout: \"mlp\", experts: 4, head_dim: 8).blocks"), "[\"dense + dense\", \"dense + MoE 4/top-2\"]\n")
        let summary = exec(i, "squad(tasks: [\"tseg\", \"tcls\"], image: 8, dim: 16, depth: 2, experts: 4, head_dim: 8)")
        XCTAssertTrue(summary.hasPrefix("squad: 2 blocks (1 MoA ×4 top-2, 1 MoE ×4 top-2), dim 16, "), summary)
        XCTAssertTrue(summary.hasSuffix("params, tasks tseg, tcls\n"), summary)
        XCTAssertEqual(exec(i, "v = vit(tasks: data, dim: 16, depth: 2, head_dim: 8)\nv.blocks; v.experts; v.tasks"),
                       "[\"dense + dense\", \"dense + dense\"]\n0\n[\"tseg\", \"tmap\", \"tcls\"]\n")
        assertError(execError(i, "squad(tasks: data, layout: [\"moa\", \"mo\"])"), .argument, line: 1, column: 20, "unknown block \"mo\"")
        assertError(execError(i, "squad(tasks: data, layout: [1])"), .argument, line: 1, column: 20, "has the number 1 where a block belongs")
        assertError(execError(i, "block(attn: \"moa\", experts: 2, top_k: 3)"), .argument, line: 1, column: 32, "must be at most the 2 attention experts")
    }

    func testPerBlockExpertWidth() {
        let (i, _) = makeSession()
        exec(i, "data = toy()")
        let out = exec(i, """
        m = squad(tasks: data, dim: 16, head_dim: 8, experts: 4, layout: [block(attn: "moa", mlp: "moe", experts: 4, width: 24, head_dim: 4), "both"])
        m.blocks
        """)
        XCTAssertEqual(out, "[\"MoA 4/top-2 d4 + MoE 4/top-2 h24\", \"MoA 4/top-2 + MoE 4/top-2\"]\n")
        assertError(execError(i, "block(mlp: \"moe\", width: 0)"), .argument, line: 1, column: 19, "width", "must be in [1, 262144], got 0")
    }

    func testStepShowsEveryLossTermAndContinues() {
        let (i, _) = session()
        let out = exec(i, "step(m, data, n: 3, batch: 8)")
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, out)
        for (k, l) in lines.enumerated() {
            XCTAssertTrue(l.hasPrefix("step \(k + 1)  loss "), String(l))
            for term in ["tseg", "tmap", "tcls", "mi", "lr"] { XCTAssertTrue(l.contains("  \(term) "), "\(term) missing: \(l)") }
        }
        XCTAssertTrue(exec(i, "step(m, data, batch: 8)").hasPrefix("step 4  loss "))
        XCTAssertEqual(exec(i, "s = step(m, data, batch: 8, lr: 1e-4)\ns.step; s.lr; m.step"), "5\n0.0001\n5\n")
        XCTAssertTrue(exec(i, "s").contains("tcls"))
    }

    func testEvalStepWalksTheTestSplit() {
        let (i, _) = session()
        let a = exec(i, "eval_step(m, data, batch: 8)"), b = exec(i, "eval_step(m, data, batch: 8)"), c = exec(i, "eval_step(m, data, batch: 8)")
        XCTAssertTrue(a.hasPrefix("eval_step test batch 1/2 (8 images): tseg miou "), a)
        XCTAssertTrue(a.contains("| tmap mae ") && a.contains("| tcls top1 "), a)
        XCTAssertTrue(b.hasPrefix("eval_step test batch 2/2"), b)
        XCTAssertTrue(c.hasPrefix("eval_step test batch 1/2"), c)
    }

    func testTrainEvalExtract() {
        let (i, out) = session()
        let t = exec(i, "r = train(m, data, epochs: 2, batch: 16, lr: 3e-3)\nr")
        XCTAssertTrue(t.contains("train 8/8  loss "), t)                 // plain progress lines (not a terminal)
        XCTAssertTrue(t.contains("train: 8 steps (2 epochs) in "), t)
        XCTAssertEqual(exec(i, "r.steps; m.step"), "8\n8\n")
        let e = exec(i, "e = eval(m, data)\ne")
        XCTAssertTrue(e.hasPrefix("eval test (16 images): tseg miou "), e)
        XCTAssertTrue(exec(i, "e.tseg.pixel_acc").first?.isNumber ?? false)
        XCTAssertTrue(exec(i, "e[\"tmap\"]").hasPrefix("tmap: mae "))
        let x = exec(i, "d = extract(m, \"tseg\")\nd")
        XCTAssertTrue(x.hasPrefix("extract 'tseg': "), x)
        XCTAssertTrue(x.contains("extracted tseg: 2 blocks"), x)
        XCTAssertEqual(exec(i, "d.tasks"), "[\"tseg\"]\n")
        let small = Double(exec(i, "d.params").trimmingCharacters(in: .newlines)) ?? 0, full = Double(exec(i, "m.params").trimmingCharacters(in: .newlines)) ?? 0
        XCTAssertTrue(small > 0 && small < full, "\(small) vs \(full)")
        XCTAssertTrue(exec(i, "eval(d, data)").hasPrefix("eval test (16 images): tseg miou "))
        XCTAssertTrue(exec(i, "m.usage").contains("blocks.0.attn"))
        XCTAssertTrue(out.text.contains("train 1/8") || out.text.contains("train 2/8"))
    }

    func testTerminalMeterShowsStepLossTasksRateAndETA() {
        let (i, out) = session()
        out.terminal = true
        exec(i, "train(m, data, steps: 6, batch: 8)")
        let redraws = out.text.components(separatedBy: "\r").filter { $0.hasPrefix("train ") }
        XCTAssertFalse(redraws.isEmpty, out.text)
        let last = redraws.last ?? ""
        XCTAssertTrue(last.hasPrefix("train 6/6 [####################]  loss "), last)
        XCTAssertTrue(last.contains("(tseg ") && last.contains(" tmap ") && last.contains(" tcls ") && last.contains("  mi "), last)
        XCTAssertTrue(last.contains(" it/s"), last)
        let first = redraws.first ?? ""
        XCTAssertTrue(first.contains("ETA "), first)
        XCTAssertTrue(out.text.contains("\ntrain: 6 steps"), out.text)   // the meter's line ends before the result
    }

    func testTrainOnAListAndEvalPerEpoch() {
        let (i, _) = session()
        let r = exec(i, "train(m, data, epochs: 2, batch: 16, eval: true, mi: 0.01, weighting: \"uncertainty\", schedule: \"constant\", warmup: 2)")
        XCTAssertTrue(r.contains("epoch 1 eval test (16 images)") && r.contains("epoch 2 eval test"), r)
        let s = exec(i, "stl = baseline(m, \"stl\")\nstl")
        XCTAssertEqual(s.components(separatedBy: "stl t").count - 1, 3, s)
        let out = exec(i, "train(stl, data, steps: 2, batch: 8)")
        XCTAssertTrue(out.contains("— stl tseg") && out.contains("— stl tcls"), out)
        let ev = exec(i, "ref = eval(stl, data)\nref")
        XCTAssertTrue(ev.contains("tseg miou") && ev.contains("tmap mae") && ev.contains("tcls top1"), ev)
        let dm = exec(i, "delta_m(eval(m, data), ref)")
        XCTAssertNotNil(Double(dm.trimmingCharacters(in: .whitespacesAndNewlines)), dm)
        XCTAssertTrue(exec(i, "mtl = baseline(m, \"mtl\")\nmtl").hasPrefix("mtl: 2 blocks (dense)"))
        XCTAssertTrue(exec(i, "baseline(m, \"m3vit\")").hasPrefix("m3vit: 2 blocks (1 MoE ×4 top-2)"))
    }

    func testAttachDetachAndTransfer() {
        let (i, out) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: [\"tseg\"], image: 8, \(small))")
        exec(i, "step(m, data, batch: 8)")
        XCTAssertTrue(exec(i, "attach(m, \"tcls\", weight: 2)").hasPrefix("attached 'tcls' (global, 2 channels) to squad: +"))
        XCTAssertTrue(exec(i, "step(m, data, batch: 8)").contains("tcls"))
        XCTAssertEqual(exec(i, "m.tasks"), "[\"tseg\", \"tcls\"]\n")
        let f = exec(i, "finetune(m, data, task: \"tmap\", steps: 2, batch: 8)")
        XCTAssertTrue(f.hasPrefix("transfer to 'tmap': "), f)
        XCTAssertNotEqual(exec(i, "m.trainable"), exec(i, "m.params"))
        XCTAssertTrue(exec(i, "unfreeze(m)").hasSuffix(" params train\n"))
        XCTAssertEqual(exec(i, "m.trainable"), exec(i, "m.params"))
        exec(i, "freeze(m, \"blocks.0.\")")
        XCTAssertNotEqual(exec(i, "m.trainable"), exec(i, "m.params"))
        assertError(execError(i, "freeze(m, \"blocks.7.\")"), .argument, line: 1, column: 11, "matches no parameter")
        XCTAssertTrue(exec(i, "detach(m, \"tcls\")").contains("tasks now tseg, tmap"))
        exec(i, "attach(m, \"gray\", kind: \"dense\", channels: 1, loss: \"l1\")")
        assertError(execError(i, "step(m, data)"), .value, line: 1, column: 1, "task 'gray' of the model is not in dataset toy")
        assertError(execError(i, "attach(m, \"tcls\", kind: \"dense\")"), .argument, line: 1, column: 19, "its plugin defines a global task")
        assertError(execError(i, "attach(m, \"mystery\")"), .argument, line: 1, column: 11, "names no task plugin", "give kind, channels and loss")
        _ = out
    }

    func testDecoderHeads() {
        let (i, _) = makeSession()
        exec(i, "data = toy()")
        let linear = exec(i, "squad(tasks: data, \(small)).params"), dec = exec(i, "d = squad(tasks: data, decoder: 8, \(small))\nd.params")
        XCTAssertNotEqual(linear, dec)
        XCTAssertTrue(exec(i, "step(d, data, batch: 8)").contains("tmap"))
        exec(i, "m = squad(tasks: [\"tseg\", \"tcls\"], image: 8, \(small))")
        XCTAssertTrue(exec(i, "attach(m, \"tmap\", head: \"decoder\", decoder_width: 8)").hasPrefix("attached 'tmap' (dense, 1 channel)"))
        XCTAssertTrue(exec(i, "step(m, data, batch: 8)").contains("tmap"))
        assertError(execError(i, "detach(m, \"tcls\")\nattach(m, \"tcls\", head: \"decoder\")"), .argument, line: 2, column: 19, "a decoder head is for dense tasks")
    }

    func testSaveAndLoadContinueTraining() throws {
        let (i, _) = session()
        exec(i, "train(m, data, steps: 3, batch: 8)\nsave(m, \"ck/m.safetensors\")")
        XCTAssertTrue(FileManager.default.fileExists(atPath: i.directory.appendingPathComponent("ck/m.safetensors").path))
        XCTAssertEqual(exec(i, "n = load(\"ck/m.safetensors\")\nn.step; n.tasks"), "3\n[\"tseg\", \"tmap\", \"tcls\"]\n")
        XCTAssertEqual(exec(i, "eval(n, data)"), exec(i, "eval(m, data)"))
        XCTAssertTrue(exec(i, "step(n, data, batch: 8)").hasPrefix("step 4  loss "))
        assertError(execError(i, "load(\"ck/none.safetensors\")"), .argument, line: 1, column: 6, "names no file")
    }

    func testPlotsWritePicturesAndDisplayThem() throws {
        let (i, out) = session()
        exec(i, "train(m, data, steps: 4, batch: 8)\neval(m, data)")
        let shown = exec(i, "plot_experts(m, \"p/experts.png\")")
        XCTAssertEqual(out.images.last?.path, i.directory.appendingPathComponent("p/experts.png").path, shown)
        let png = try Data(contentsOf: i.directory.appendingPathComponent("p/experts.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual(exec(i, "img = plot_relations(m)\nimg.path").trimmingCharacters(in: .newlines),
                       i.directory.appendingPathComponent("plots/relations_1.png").path)
        exec(i, "plot_curves([m], \"p/curves.png\")\nplot_curves(m, \"p/metrics.png\", metrics: true)")
        exec(i, "plot_predictions(m, data, \"tseg\", \"p/pred.png\", samples: 2)\nplot_routes(m, data, path: \"p/routes.png\")")
        exec(i, "d = extract(m, \"tmap\")\nplot_costs([m, d], \"p/costs.png\")")
        for f in ["curves", "metrics", "pred", "routes", "costs"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: i.directory.appendingPathComponent("p/\(f).png").path), f)
        }
        XCTAssertEqual(out.images.count, 6)   // the assigned relations plot is not displayed
        let perLayer = exec(i, "plot_experts(m, \"p/layers.png\", per_layer: true)")
        XCTAssertEqual(perLayer.components(separatedBy: "[image]").count - 1, 2, perLayer)
        assertError(execError(i, "plot_predictions(m, data, \"tsge\")"), .argument, line: 1, column: 27, "did you mean 'tseg'?")
        assertError(execError(i, "plot_routes(m, data, layer: \"blocks.9.mlp\")"), .argument, line: 1, column: 22, "names no MoE layer")
    }

    func testPlotOfAnUntrainedModelIsAClearError() {
        let (i, _) = session()
        let e = execError(i, "plot_curves(m)")
        XCTAssertEqual(e?.kind, .value)
        XCTAssertTrue(e?.message.contains("no training steps logged yet") ?? false)
        XCTAssertEqual(e?.location?.column, 1)
        let t = execError(i, "extract(m, \"tmap\", threshold: -1)")
        XCTAssertTrue(t?.message.contains("parameter 'threshold' must be in [0, 100], got -1") ?? false, t?.message ?? "")
        let u = execError(i, "plot_experts(m, \"x.png\")")
        XCTAssertTrue(u?.message.hasPrefix("plot_experts: no expert usage statistics yet") ?? false, "named once: \(u?.message ?? "")")
    }

    func testFastModeShrinksSizes() {
        ScriptSettings.fast = true
        defer { ScriptSettings.fast = false }
        let (i, _) = makeSession()
        XCTAssertEqual(exec(i, "d = toy(train: 5000, test: 900)\nd.train; d.test"), "192\n64\n")
        XCTAssertEqual(exec(i, "m = squad(tasks: d, dim: 192, depth: 6, experts: 12)\nm.dim; m.depth; m.experts"), "32\n2\n8\n")
        XCTAssertTrue(exec(i, "train(m, d, epochs: 5)").contains("train: 4 steps"))
    }
}

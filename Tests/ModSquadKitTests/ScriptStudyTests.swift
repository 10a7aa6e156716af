// The study builtins (compare, specialisation, extraction, flops, claim), comparisons in the language, tables in reports,
// and what a checkpoint keeps for them (kind, MI, training time); checked against eval, extract and hand-computed entropies.
import XCTest
import Foundation
import SquadTensor
import ModSquad
import SquadScript

final class ScriptStudyTests: XCTestCase {
    let small = "dim: 16, depth: 2, experts: 4, head_dim: 8"

    func number(_ i: Interpreter, _ expr: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        // The last line printed (builtins such as extract print a report line first); numbers print with 6 digits.
        let s = exec(i, expr, file: file, line: line).split(separator: "\n").last.map(String.init) ?? ""
        guard let d = Double(s) else { XCTFail("not a number: \(s)", file: file, line: line); return .nan }
        return d
    }

    func model(_ i: Interpreter, _ name: String) -> ModelValue? {
        if case .object(let m as ModelValue)? = i.variables[name] { return m }
        return nil
    }

    func testComparisonOperators() {
        let (i, _) = makeSession()
        XCTAssertEqual(exec(i, "1 < 2; 3 > 4; 1 + 1 > 1; 2 * 3 < 5; \"a\" < \"b\""), "true\nfalse\ntrue\nfalse\ntrue\n")
        XCTAssertEqual(exec(i, "x = 0.5 > 0.25\nx"), "true\n")
        assertError(execError(i, "1 < 2 < 3"), .syntax, line: 1, column: 7, "chains")
        assertError(execError(i, "1 < \"a\""), .type, line: 1, column: 1, "cannot compare the number 1 and the string")
    }

    func testClaimSaysPlainlyWhetherItHolds() {
        let (i, _) = makeSession()
        XCTAssertEqual(exec(i, "claim(\"two above one\", 2 > 1)"), "✔ holds: two above one\n")
        XCTAssertEqual(exec(i, "claim(\"one above two\", 1 > 2)"), "✘ does not hold: one above two\n")
        assertError(execError(i, "claim(\"x\", 1)"), .argument, line: 1, column: 12, "expects true or false")
    }

    /// The counter is exact for a known product, and for a dropless MoE-MLP the FLOPs of top-2 over top-1 grow by
    /// exactly one expert per token: tokens · 2 · (dim·hidden + hidden·dim).
    func testFLOPsCountMatrixProductsAsRouted() throws {
        var rng = RNG(seed: 1)
        let a = Tensor.normal([5, 7], rng: &rng), b = Tensor.normal([7, 3], rng: &rng)
        let (_, f) = try FLOPCounter.measure { try a.matmul(b) }
        XCTAssertEqual(f, 2 * 5 * 7 * 3)

        let (i, _) = makeSession()
        exec(i, "data = toy(size: 8)")
        exec(i, "k1 = squad(tasks: data, dim: 16, depth: 2, layout: \"mlp\", experts: 4, top_k: 1, head_dim: 8, expert_hidden: 24)")
        exec(i, "k2 = squad(tasks: data, dim: 16, depth: 2, layout: \"mlp\", experts: 4, top_k: 2, head_dim: 8, expert_hidden: 24)")
        let tokens = 4.0   // (8 / patch 4)²
        XCTAssertEqual(number(i, "flops(k2, \"tmap\") - flops(k1, \"tmap\")"), tokens * 2 * (16 * 24 + 24 * 16))
        XCTAssertEqual(number(i, "flops(k2) - flops(k1)"), tokens * 2 * (16 * 24 + 24 * 16), "the mean over tasks")
        assertError(execError(i, "flops(k1, \"nope\")"), .argument, line: 1, column: 11, "names no task")
    }

    func trainedSession() -> Interpreter {
        let (i, _) = makeSession()
        exec(i, """
        data = toy(train: 48, test: 16)
        m1 = squad(tasks: data, \(small), seed: 1)
        m2 = squad(tasks: data, \(small), seed: 2)
        stl = baseline(m1, "stl")
        mtl = baseline(m1, "mtl")
        train(m1, data, steps: 3, batch: 8)
        train(m2, data, steps: 3, batch: 8)
        train(stl, data, steps: 3, batch: 8)
        train(mtl, data, steps: 3, batch: 8)
        """)
        return i
    }

    func testCompareAgreesWithEvalAndDeltaM() {
        let i = trainedSession()
        exec(i, "t = compare(data, [stl, mtl, [m1, m2]], names: [\"STL\", \"MTL\", \"Mod-Squad\"])")
        // Each cell is the mean of what eval gives each run; Δm is delta_m against the reference.
        XCTAssertEqual(number(i, "t[\"MTL\"].tmap_mae"), number(i, "eval(mtl, data).tmap.mae"), accuracy: 1e-9)
        XCTAssertEqual(number(i, "t[\"STL\"].tseg_miou"), number(i, "eval(stl[0], data).tseg.miou"), accuracy: 1e-9)
        XCTAssertEqual(number(i, "t[\"Mod-Squad\"].tcls_top1"), number(i, "(eval(m1, data).tcls.top1 + eval(m2, data).tcls.top1) / 2"), accuracy: 1e-9)
        XCTAssertEqual(number(i, "t[\"MTL\"].delta_m"), number(i, "delta_m(eval(mtl, data), eval(stl, data))"), accuracy: 0.006)
        XCTAssertEqual(number(i, "t[\"STL\"].delta_m"), 0, accuracy: 1e-12)
        XCTAssertEqual(number(i, "t[\"Mod-Squad\"].seeds"), 2)
        XCTAssertEqual(number(i, "t[\"Mod-Squad\"].params"), number(i, "m1.params"))
        XCTAssertEqual(number(i, "t[\"STL\"].params"), number(i, "stl[0].params + stl[1].params + stl[2].params"))
        XCTAssertEqual(number(i, "t[\"MTL\"].mflops"), number(i, "flops(mtl) / 1000000"), accuracy: 1e-9)
        XCTAssertGreaterThan(number(i, "t[\"Mod-Squad\"].train_s"), 0)
        let shown = exec(i, "t")
        XCTAssertTrue(shown.contains("Mod-Squad") && shown.contains(" ± ") && shown.contains("Δm % vs STL"), shown)
        // Per-task gains: Δm weighs each metric once (tseg and tmap have two metrics, tcls one).
        XCTAssertEqual(number(i, "(2 * t[\"MTL\"].gain_tseg + 2 * t[\"MTL\"].gain_tmap + t[\"MTL\"].gain_tcls) / 5"), number(i, "t[\"MTL\"].delta_m"), accuracy: 1e-4)
        let pic = exec(i, "plot_gains(t, \"gains.png\")")
        XCTAssertTrue(pic.contains("gains.png") && FileManager.default.fileExists(atPath: i.directory.appendingPathComponent("gains.png").path), pic)
        assertError(execError(i, "plot_gains(specialisation(m1))"), .argument, line: 1, column: 12, "made by compare")
        // Default names are the models' kinds; the reference can be named.
        XCTAssertEqual(exec(i, "compare(data, [stl, mtl], reference: \"mtl\")[\"mtl\"].delta_m"), "0\n")
    }

    func testCompareErrorsSayWhichEntry() {
        let i = trainedSession()
        assertError(execError(i, "compare(data, [stl, mtl], names: [\"a\"])"), .argument, line: 1, column: 27, "has 1 names for 2 families")
        assertError(execError(i, "compare(data, [])"), .argument, line: 1, column: 15, "is empty")
        assertError(execError(i, "compare(data, [[m1, stl[0]]])"), .argument, line: 1, column: 15, "entry 0 mixes models with different tasks")
        assertError(execError(i, "compare(data, [mtl, 3])"), .argument, line: 1, column: 15, "entry 1 is the number 3")
        assertError(execError(i, "compare(data, [stl, mtl], names: [\"a\", \"a\"])"), .argument, line: 1, column: 27, "must be distinct")
        assertError(execError(i, "compare(data, [stl, mtl], reference: \"nope\")"), .argument, line: 1, column: 27, "names no family")
    }

    /// Entropies recomputed here from the usage percentages: H(E|T) = mean_t H(u_t), H(E) = H(mean_t u_t).
    func testSpecialisationEntropiesFromUsage() throws {
        let i = trainedSession()
        exec(i, "s = specialisation([m1, m2], names: [\"a\", \"b\"])")
        guard let m = model(i, "m1") else { return XCTFail("no m1") }
        func h(_ p: [Double]) -> Double { p.reduce(0) { $0 - ($1 > 0 ? $1 * log($1) : 0) } }
        var sumMI = 0.0
        let layers = moeLayerNames(m.model)
        for layer in layers {
            let rows = m.model.usage.tasks(in: layer).map { m.model.usage.percentages(layer: layer, task: $0)!.map { $0 / 100 } }
            let cond = rows.map(h).reduce(0, +) / Double(rows.count)
            let marg = h((0..<rows[0].count).map { e in rows.map { $0[e] }.reduce(0, +) / Double(rows.count) })
            XCTAssertEqual(number(i, "s[\"\(layer)\"].a_conditional"), cond, accuracy: 1e-5, layer)
            XCTAssertEqual(number(i, "s[\"\(layer)\"].a_marginal"), marg, accuracy: 1e-5, layer)
            XCTAssertEqual(number(i, "s[\"\(layer)\"].a_mi"), marg - cond, accuracy: 1e-5, layer)
            XCTAssertLessThanOrEqual(number(i, "s[\"\(layer)\"].a_experts"), 4)
            sumMI += marg - cond
        }
        XCTAssertEqual(number(i, "s[\"mean\"].a_mi"), sumMI / Double(layers.count), accuracy: 1e-5)
        assertError(execError(i, "specialisation(mtl)"), .value, line: 1, column: 1, "has no MoE layers")
        exec(i, "fresh = squad(tasks: data, \(small))")
        assertError(execError(i, "specialisation(fresh)"), .value, line: 1, column: 1, "no usage statistics yet")
    }

    func testExtractionTableMatchesExtract() {
        let i = trainedSession()
        exec(i, "x = extraction(m1, data, reps: 2)")
        for t in ["tseg", "tmap", "tcls"] {
            XCTAssertEqual(number(i, "x[\"\(t)\"].params_extracted"), number(i, "extract(m1, \"\(t)\").params"))
            XCTAssertEqual(number(i, "x[\"\(t)\"].params_full"), number(i, "m1.params"))
            XCTAssertGreaterThan(number(i, "x[\"\(t)\"].ms_full"), 0)
        }
        XCTAssertEqual(number(i, "x[\"tmap\"].mae_full"), number(i, "eval(m1, data).tmap.mae"), accuracy: 1e-9)
        XCTAssertEqual(number(i, "x[\"tmap\"].mae_extracted"), number(i, "eval(extract(m1, \"tmap\"), data).tmap.mae"), accuracy: 1e-9)
        assertError(execError(i, "extraction(m1, data, tasks: [\"nope\"])"), .argument, line: 1, column: 22, "names no task")
    }

    /// save/load keep what cost tables and training need: the kind, whether the MI loss applies, the training seconds.
    func testCheckpointKeepsKindMILossAndTrainingTime() throws {
        let (i, _) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: data, \(small))\nmoe = baseline(m, \"m3vit\")\ntrain(moe, data, steps: 2, batch: 8)\nsave(moe, \"ck/moe.safetensors\")")
        exec(i, "back = load(\"ck/moe.safetensors\")")
        guard let a = model(i, "moe"), let b = model(i, "back") else { return XCTFail("no models") }
        XCTAssertEqual(b.label, "m3vit")
        XCTAssertFalse(b.trainsWithMILoss)
        XCTAssertGreaterThan(a.trainSeconds, 0)
        XCTAssertEqual(b.trainSeconds, a.trainSeconds, accuracy: 1e-9)
        // Usage statistics come back in model order (plots and tables list layers as the model has them).
        exec(i, "deep = squad(tasks: data, dim: 16, depth: 12, experts: 4, head_dim: 8)\ntrain(deep, data, steps: 1, batch: 4)\nsave(deep, \"ck/deep.safetensors\")\nagain = load(\"ck/deep.safetensors\")")
        guard let deep = model(i, "deep"), let again = model(i, "again") else { return XCTFail("no deep models") }
        XCTAssertEqual(again.model.usage.layers, deep.model.usage.layers)
        XCTAssertEqual(again.model.usage.layers, moeLayerNames(deep.model))
    }

    /// A loaded squad transfers to a new task (its checkpoint's optimizer moments belong to the frozen weights).
    func testRouterOnlyTransferOfALoadedSquad() {
        let (i, _) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: [\"tseg\", \"tmap\"], image: 8, \(small))\ntrain(m, data, steps: 2, batch: 8)\nsave(m, \"ck/m.safetensors\")")
        let out = exec(i, "n = load(\"ck/m.safetensors\")\nfinetune(n, data, task: \"tcls\", steps: 2, batch: 8)")
        XCTAssertTrue(out.contains("transfer to 'tcls'"), out)
        // Only the new task's loss is computed: the frozen tasks would cost forward passes and change nothing.
        let summary = out.split(separator: "\n").last { $0.hasPrefix("finetune:") }.map(String.init) ?? ""
        XCTAssertTrue(summary.contains("(tcls ") && !summary.contains("tseg") && !summary.contains("tmap"), summary)
        // unfreeze ends the transfer: training computes every task again.
        let again = exec(i, "unfreeze(n)\ntrain(n, data, steps: 1, batch: 8)")
        XCTAssertTrue(again.contains("tseg") && again.contains("tmap") && again.contains("tcls"), again)
        XCTAssertEqual(exec(i, "n.tasks"), "[\"tseg\", \"tmap\", \"tcls\"]\n")
    }

    func testTablesAreMarkdownInReports() throws {
        let (i, out) = makeSession()
        let src = "# %% models\ndata = toy()\nm = squad(tasks: data, \(small))\nv = vit(tasks: data, dim: 16, depth: 2, head_dim: 8)\n# %% table\ncompare(data, [v, m], names: [\"ViT\", \"squad|x\"])\n"
        let file = SourceFile(name: "t.msq", text: src)
        let results = NotebookRunner(interpreter: i).run(file)
        XCTAssertTrue(results.allSatisfy { $0.error == nil }, results.compactMap { $0.error?.rendered }.joined())
        XCTAssertEqual(results.flatMap(\.outputs).filter { if case .table = $0 { return true }; return false }.count, 1)
        _ = out
        let md = NotebookExport.markdown(results, notebook: "t.msq", reportURL: i.directory.appendingPathComponent("t.md"), seconds: 1)
        XCTAssertTrue(md.contains("| model | tseg miou ↑ |"), md)
        XCTAssertTrue(md.contains("|:---|---:|"), md)
        XCTAssertTrue(md.contains("| squad\\|x | "), "a | in a cell is escaped: \(md)")
        let nb = try JSONSerialization.jsonObject(with: try NotebookExport.ipynb(results, notebook: "t.msq")) as? [String: Any]
        let cells = nb?["cells"] as? [[String: Any]] ?? []
        let outputs = cells.flatMap { ($0["outputs"] as? [[String: Any]]) ?? [] }
        XCTAssertTrue(outputs.contains { (($0["data"] as? [String: Any])?["text/markdown"]) != nil }, "\(outputs)")
    }

    /// notebooks/paper runs in fast mode in order in one folder (later notebooks load what earlier ones saved),
    /// and the reports hold the tables and the claims.
    func testPaperNotebooksRunInOrderInFastMode() throws {
        let dir = Fixtures.repoRoot.appendingPathComponent("notebooks/paper")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".msq") }.sorted()
        XCTAssertEqual(names.count, 7, "\(names)")
        let cwd = temporaryDirectory("msq-paper")
        var reports = ""
        for name in names {
            let stem = String(name.dropLast(4))
            let r = try MSQBinary.run(["run", dir.appendingPathComponent(name).path, "--report", "\(stem).md"], cwd: cwd,
                                      env: ["MSQ_FAST": "1", "MSQ_CACHE": sharedCache.path])
            XCTAssertEqual(r.status, 0, "\(name):\n\(r.out.suffix(2000))\n\(r.err)")
            reports += (try? String(contentsOf: cwd.appendingPathComponent("\(stem).md"), encoding: .utf8)) ?? ""
        }
        for table in ["Δm % vs STL", "Specialisation: entropies", "Extraction: each task", "router-only transfer", "16 experts"] {
            XCTAssertTrue(reports.contains(table), "no '\(table)' in the reports")
        }
        XCTAssertTrue(reports.contains("holds: Mod-Squad beats hard sharing"), "claims are printed")
    }
}

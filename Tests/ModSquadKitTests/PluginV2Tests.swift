// Issue 20 (plugin API v2), items 3, 7, 8 and 11: plugin results checked at the boundary, load() naming a missing
// task plugin, a .so loaded twice, msq --plugin keeping running, picture() errors drawn, models named by their variable.
import XCTest
import Foundation
import SquadTensor
@testable import ModSquad
@testable import SquadPluginAPI
@testable import SquadScript
@testable import SquadPlot

/// A task plugin whose loss returns the prediction itself (not a scalar), with duplicate metric names.
final class CarelessTask: TaskPlugin {
    let name: String, summary = "careless", kind: TaskKind, channels: Int
    init(_ name: String, _ kind: TaskKind, _ channels: Int) { self.name = name; self.kind = kind; self.channels = channels }
    var metricInfo: [MetricInfo] { [MetricInfo("mae", higherIsBetter: false)] }
    func loss(_ p: Tensor, _ t: TaskTarget) throws -> Tensor { p }
    func metrics(_ p: Tensor, _ t: TaskTarget) throws -> [Metric] { [Metric("mae", 1, higherIsBetter: false), Metric("mae", 2, higherIsBetter: false)] }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture {
        struct NoPicture: Error, CustomStringConvertible { var description: String { "cannot draw sample" } }
        throw NoPicture()
    }
}

/// An aux loss returning one value per router row instead of a scalar.
final class RowAuxLoss: AuxLossPlugin {
    let name = "rows", summary = "per-row", defaultWeight: Float = 1
    func loss(_ record: RouterRecord) throws -> Tensor { Tensor(zeros: [3]) }
}

/// A gating choosing an expert that does not exist.
final class OutOfRangeGating: GatingPlugin {
    let name = "far", summary = "expert 99"
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        let n = input.logits.shape[0] * input.topK
        return GateDecision(choices: [Int](repeating: 99, count: n), gates: Tensor(zeros: [n]))
    }
}

final class PluginV2Tests: XCTestCase {
    func step(_ reg: PluginRegistry, _ cfg: SquadConfig, aux: [String: Float] = [:]) throws {
        let m = try SquadModel(cfg)
        let tr = Trainer(m)
        try reg.bind(m, trainer: tr, auxWeights: aux)
        var rng = RNG(seed: 3)
        let (x, y) = Toy.batch(2, rng: &rng)
        try tr.trainStep(x, y)
    }

    // MARK: item 3

    func testPluginResultsAreCheckedAndNameThePluginAndMethod() throws {
        let reg = PluginRegistry()
        try reg.register(task: CarelessTask("edge", .dense, 1))
        try reg.register(auxLoss: RowAuxLoss())
        try reg.register(gating: OutOfRangeGating())
        var cfg = try Toy.config()
        cfg.tasks[1].plugin = "edge"
        XCTAssertThrowsError(try step(reg, cfg)) {
            XCTAssertEqual("\($0)", "task plugin 'edge': loss returned shape [2, 1, 8, 8], expected a scalar ([1] or [])")
        }
        XCTAssertThrowsError(try step(reg, try Toy.config(), aux: ["rows": 1])) {
            XCTAssertEqual("\($0)", "aux loss plugin 'rows': loss returned shape [3], expected a scalar ([1] or [])")
        }
        var far = try Toy.config()
        try reg.configure(&far, gating: "far")
        XCTAssertThrowsError(try step(reg, far)) {
            XCTAssertTrue("\($0)".hasPrefix("gating plugin 'far': gate returned expert 99, expected -1 (no expert) or 0..<4"), "\($0)")
        }
        XCTAssertThrowsError(try PluginBoundary.metrics(CarelessTask("edge", .dense, 1), Tensor(zeros: [1]), .labels([0]))) {
            XCTAssertEqual("\($0)", "task plugin 'edge': metrics returned the metric 'mae' twice")
        }
    }

    func testEvalReportsDuplicateMetricNamesOfAPlugin() throws {
        let reg = PluginRegistry()
        try reg.register(task: CarelessTask("tmap", .dense, 1))
        try reg.register(dataset: ToyDatasetPlugin())
        let i = Interpreter(output: TestOutput(), table: BuiltinTable(core: true, registry: reg), directory: temporaryDirectory("msq-v2"))
        exec(i, "data = toy(tasks: [\"tmap\"])\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8)")
        let e = execError(i, "eval(m, data)")
        XCTAssertTrue(e?.message.contains("task plugin 'tmap': metrics returned the metric 'mae' twice") ?? false, e?.rendered ?? "no error")
    }

    // MARK: item 7

    func testLoadNamesTheMissingTaskPlugin() throws {
        let (i, _) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8)\nsave(m, \"m.safetensors\")")
        // a fresh session without the toy task plugins
        let reg = PluginRegistry()
        let j = Interpreter(output: TestOutput(), table: BuiltinTable(core: true, registry: reg), directory: i.directory)
        let e = execError(j, "n = load(\"m.safetensors\")")
        assertError(e, .value, line: 1, column: 5, "needs the task plugin 'tseg', which is not loaded", "load_plugin")
    }

    func testTheSameLibraryTwiceSaysWhereItWasLoadedFrom() throws {
        let lib = try cLibrary("empty", """
            int modsquad_plugin_abi(void) { return \(pluginABIIdentity); }
            char *modsquad_plugin_register(void *r, int a) { return 0; }
            """)
        let reg = PluginRegistry()
        XCTAssertEqual(try PluginLoader.load(lib, into: reg), [])
        XCTAssertThrowsError(try PluginLoader.load(lib, into: reg)) { XCTAssertEqual("\($0)", "\(lib): already loaded from \(lib)") }
        XCTAssertEqual(try PluginLoader.load(lib, into: PluginRegistry()), [], "another registry loads it afresh")
    }

    func testABadPluginOptionLeavesMSQRunning() throws {
        let dir = temporaryDirectory("msq-badplugin")
        try "print(\"alive\")\n".write(to: dir.appendingPathComponent("a.msq"), atomically: true, encoding: .utf8)
        let r = try MSQBinary.run(["--plugin", "/nonexistent/libBad.so", "run", "a.msq"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.err.contains("/nonexistent/libBad.so: no such file"), r.err)
        XCTAssertTrue(r.out.contains("alive"), r.out)
    }

    // MARK: item 8

    func testAPictureThatThrowsShowsItsErrorInThePanel() throws {
        let dir = temporaryDirectory("plot-v2")
        let x = Tensor(zeros: [2, 3, 8, 8])
        let logits = try Tensor([0, 3, 2, 0], shape: [2, 2])
        let out = try plotPredictions(task: "which", kind: .global, images: x, predictions: logits, targets: .labels([1, 1]),
                                      plugin: CarelessTask("which", .global, 2), to: dir.appendingPathComponent("p.png").path)
        let img = try PlotCheck.png(out.paths[0], nil, nil)
        for s in 0..<2 {
            XCTAssertTrue(PlotCheck.contains(img, out.regions["#\(s)/predicted"]!, .bad), "the error is drawn in red (sample \(s))")
            XCTAssertFalse(PlotCheck.contains(img, out.regions["#\(s)/predicted"]!, .good), "no class is claimed (sample \(s))")
            XCTAssertTrue(PlotCheck.contains(img, out.regions["#\(s)/true"]!, .bad), "the target's error too (sample \(s))")
        }
        XCTAssertEqual(GlobalText.failure("which", TaskError.badTarget(task: "which", message: "x"), width: 200).hasPrefix("which: picture failed: "), true)
        try? FileManager.default.removeItem(at: dir)
    }

    // MARK: item 11

    func testModelsAreNamedByTheirVariableInPlotsAndTables() throws {
        let (i, _) = makeSession()
        exec(i, """
            data = toy(train: 32, test: 16)
            m = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8, seed: 1)
            ref = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8, seed: 2)
            train(m, data, steps: 2, batch: 8)
            train(ref, data, steps: 2, batch: 8)
            s = specialisation([m, ref])
            """)
        let out = exec(i, "s")
        XCTAssertTrue(out.contains("m H(E|T)") && out.contains("ref H(E|T)"), out)
        XCTAssertFalse(out.contains("squad H(E|T)"), out)
        guard case .object(let m as ModelValue)? = i.variables["m"], case .object(let ref as ModelValue)? = i.variables["ref"] else {
            return XCTFail("no models")
        }
        XCTAssertEqual(displayNames([m, ref]), ["m", "ref"])
        XCTAssertEqual(m.label, "squad", "the kind is unchanged")
        exec(i, "r = m")
        XCTAssertEqual(m.name, "m", "the first variable names it")
        let a = ModelValue(m.model, label: "squad"), b = ModelValue(m.model, label: "squad")
        XCTAssertEqual(displayNames([a, b]), ["squad", "squad 2"])
        exec(i, "plot_curves([m, ref], \"c.png\")")
    }
}

/// A self-supervised global task (the image's mean brightness) that records the range of the images it derives from.
final class BrightnessTask: TaskPlugin {
    let name = "brightness", summary = "mean brightness", kind = TaskKind.global, channels = 1
    var seen: (min: Float, max: Float) = (.infinity, -.infinity)
    var metricInfo: [MetricInfo] { [MetricInfo("mae", higherIsBetter: false)] }
    func loss(_ p: Tensor, _ t: TaskTarget) throws -> Tensor { try TaskHead.loss(TaskSpec(name, kind: .global, channels: 1, loss: .l1), p, t) }
    func metrics(_ p: Tensor, _ t: TaskTarget) throws -> [Metric] { [Metric("mae", 0, higherIsBetter: false)] }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture { Picture(rgb: Tensor(repeating: 0.5, shape: [3, 4, 4]), caption: name) }
    func derivedTarget(images: Tensor, targets: [String: TaskTarget]) throws -> TaskTarget? {
        let v = images.array
        seen = (min(seen.min, v.min() ?? 0), max(seen.max, v.max() ?? 0))
        let b = images.shape[0], per = images.count / b
        return .values(try Tensor((0..<b).map { i in (0..<per).reduce(Float(0)) { $0 + images.data[i * per + $1] } / Float(per) }, shape: [b, 1]))
    }
}

final class DerivedTargetTests: XCTestCase {
    /// Item 1: derivedTarget gets the dataset's images in [0, 1], not the normalised model input (about −2.6 … 3.6).
    func testDerivedTargetsSeeTheRawImages() throws {
        let reg = PluginRegistry()
        let task = BrightnessTask()
        try reg.register(task: task)
        try reg.register(dataset: ToyDatasetPlugin())
        let out = TestOutput()
        let s = Interpreter(output: out, table: BuiltinTable(core: true, registry: reg), directory: temporaryDirectory("msq-derived"))
        exec(s, "data = toy(tasks: [\"tseg\"])\nm = squad(tasks: [\"brightness\"], dim: 16, depth: 2, experts: 4, head_dim: 8, image: 8)\ntrain(m, data, steps: 3, batch: 8)")
        XCTAssertGreaterThanOrEqual(task.seen.min, -1e-5, "images below 0: the plugin got normalised input")
        XCTAssertLessThanOrEqual(task.seen.max, 1 + 1e-5, "images above 1: the plugin got normalised input")
        XCTAssertGreaterThan(task.seen.max, 0.5)
    }
}

final class AuxTermTests: XCTestCase {
    /// Item 10: the built-in aux losses and a plugin's are one list, summed over layers and weighted by one loop.
    func testBuiltInAndPluginAuxTermsAreOneList() throws {
        let m = try SquadModel(Toy.config())
        let tr = Trainer(m)
        tr.options.switchWeight = 0.01
        tr.extraAux = [(name: "entropy", weight: 0.5, loss: { r in r.probs.mean() })]
        XCTAssertEqual(tr.auxTerms.map(\.name), ["mi", "switch", "z", "entropy"])
        XCTAssertEqual(tr.auxTerms.map(\.weight), [tr.options.miWeight, 0.01, 0, 0.5])
        var rng = RNG(seed: 4)
        let (x, y) = Toy.batch(2, rng: &rng)
        let o = try tr.objective(x, y)
        XCTAssertEqual(o.aux.map(\.0), ["mi", "switch", "entropy"], "a zero weight (z) is skipped")
        let tasks = o.tasks.reduce(Float(0)) { $0 + $1.1.scalar }
        let weights: [String: Float] = ["mi": tr.options.miWeight, "switch": 0.01, "entropy": 0.5]
        let want = o.aux.reduce(tasks) { $0 + weights[$1.0]! * $1.1.scalar }
        XCTAssertEqual(o.total.scalar, want, accuracy: 1e-5 * max(1, abs(want)))
        // the plugin's value is the sum over the MoE layers of its per-layer loss
        let perLayer = o.records.reduce(Float(0)) { $0 + $1.probs.mean().scalar }
        XCTAssertEqual(o.aux[2].1.scalar, perLayer, accuracy: 1e-6)
        Autograd.reset()
    }
}

/// A global task that locates the brightest pixel (x, y): it draws the true and predicted points on the input.
final class CentroidTask: TaskPlugin, InputDrawingTask {
    let name = "centroid", summary = "the bright spot's position", kind = TaskKind.global, channels = 2
    var metricInfo: [MetricInfo] { [] }
    func loss(_ p: Tensor, _ t: TaskTarget) throws -> Tensor { Tensor(scalar: 0) }
    func metrics(_ p: Tensor, _ t: TaskTarget) throws -> [Metric] { [] }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture { Picture(rgb: Tensor(zeros: [3, 1, 1])) }
    func marks(image: Tensor, prediction: Tensor, target: TaskTarget?, index: Int) throws -> [DrawnMark] {
        var out = [DrawnMark(.point(x: Double(prediction.data[index * 2]), y: Double(prediction.data[index * 2 + 1])), role: .prediction)]
        if case .values(let t)? = target {
            out.append(DrawnMark(.point(x: Double(t.data[index * 2]), y: Double(t.data[index * 2 + 1])), role: .truth))
            out.append(DrawnMark(.box(x: 0, y: 0, width: Double(image.shape[2]), height: Double(image.shape[1])), role: .truth))
        }
        return out
    }
}

final class InputDrawingTests: XCTestCase {
    /// Item 2: a global task draws the true and the predicted answers on the input image, together.
    func testAGlobalTaskDrawsItsAnswersOnTheInput() throws {
        let x = Tensor(repeating: 0.5, shape: [2, 3, 8, 8])
        let pred = try Tensor([1, 1, 6, 2], shape: [2, 2]), truth = try Tensor([5, 6, 2, 5], shape: [2, 2])
        let path = temporaryDirectory("msq-marks").appendingPathComponent("c.png").path
        let out = try plotPredictions(task: "centroid", kind: .global, images: x, predictions: pred, targets: .values(truth),
                                      plugin: CentroidTask(), to: path)
        let img = try PlotCheck.png(out.paths[0], out.width, out.height)
        let orange = Color(hex: 0xE8710A)
        for s in 0..<2 {
            let r = try XCTUnwrap(out.regions["#\(s)/input"])
            func at(_ px: Float, _ py: Float) -> (Double, Double) { (r.x + (Double(px) + 0.5) * r.width / 8, r.y + (Double(py) + 0.5) * r.height / 8) }
            let (px, py) = at(pred.data[s * 2], pred.data[s * 2 + 1]), (tx, ty) = at(truth.data[s * 2], truth.data[s * 2 + 1])
            PlotCheck.assertColor(img, px, py, orange, tolerance: 60, "sample \(s): the predicted point")
            PlotCheck.assertColor(img, tx, ty, .good, tolerance: 60, "sample \(s): the true point")
            // away from the marks the input shows through (mid grey)
            let (gx, gy) = at(3.5, 7)
            PlotCheck.assertColor(img, gx, gy, Color(r: 0.5, g: 0.5, b: 0.5), tolerance: 3, "sample \(s): the input itself")
        }
    }
}

// Plot tests for curves, bars, prediction grids and route maps: sizes, pixels that are the data, and clear errors.
import XCTest
import Foundation
import SquadTensor
@testable import ModSquad
import SquadPluginAPI
import SquadPlot

/// A dense task plugin that draws predictions solid red and targets solid green (or a caption for global tasks).
final class SolidPicturePlugin: TaskPlugin {
    let name: String, kind: TaskKind
    var summary: String { "test" }
    var channels: Int { 1 }
    var metricInfo: [MetricInfo] { [] }
    init(_ name: String, kind: TaskKind = .dense) { self.name = name; self.kind = kind }
    func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor { Tensor(scalar: 0) }
    func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] { [] }
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture {
        if kind == .global { return Picture(rgb: Tensor(zeros: [3, 1, 1]), caption: prediction != nil ? "pred #\(index)" : "true #\(index)") }
        guard index < 2 else { throw TaskError.badTarget(task: name, message: "no sample \(index)") }
        let t = Tensor(zeros: [3, 4, 4])
        for p in 0..<16 { t.data[(prediction != nil ? 0 : 1) * 16 + p] = 1 }
        return Picture(rgb: t)
    }
}

final class PlotPictureTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = temporaryDirectory("plotpic") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    // MARK: curves

    func testCurvesSizeColoursAndLegend() throws {
        let panels = [
            CurvePanel("depth loss", series: [Series("squad", values: [1, 0.8, 0.6, 0.5]), Series("mtl", values: [1.2, 1.0, 0.9, 0.85])], yLabel: "L1"),
            CurvePanel("accuracy", series: [Series("mtl", points: [(0, 0.2), (10, 0.5), (20, 0.6)]), Series("squad", points: [(0, 0.3), (10, 0.7), (20, 0.8)], dashed: true)]),
            CurvePanel("mi (aux)", series: [Series("squad", values: (0..<200).map { exp(-Double($0) / 50) })], logY: true, smoothing: 0.6),
        ]
        let out = try plotCurves(panels, to: path("curves.png"), columns: 2, panelWidth: 300, panelHeight: 200, title: "Training")
        let img = try PlotCheck.png(out.paths[0], 28 + 2 * 300 + 18, 28 + 36 + 2 * 200 + 18)
        // Each run keeps one colour in every panel: squad first seen, so categorical 0; mtl 1.
        for (panel, series, colour) in [("depth loss", "squad", 0), ("depth loss", "mtl", 1), ("accuracy", "mtl", 1), ("accuracy", "squad", 0)] {
            for i in 0..<3 {
                guard let r = out.regions["\(panel)/\(series)/\(i)"] else { return XCTFail("no point \(panel)/\(series)/\(i)") }
                PlotCheck.assertColor(img, r.midX, r.midY, Palette.categorical(colour), tolerance: 12, "\(panel) \(series) point \(i)")
            }
        }
        // Points sit where their values are: a larger y is higher on screen.
        let p0 = out.regions["depth loss/squad/0"]!, p3 = out.regions["depth loss/squad/3"]!
        XCTAssertLessThan(p0.midY, p3.midY); XCTAssertLessThan(p0.midX, p3.midX)
        // The legend lies inside the plot and away from the points.
        for p in ["depth loss", "accuracy", "mi (aux)"] {
            let l = out.regions["\(p)/legend"]!, plot = out.regions["\(p)/plot"]!
            XCTAssertTrue(l.x >= plot.x && l.maxX <= plot.maxX && l.y >= plot.y && l.maxY <= plot.maxY, "\(p) legend \(l) in \(plot)")
        }
        let mi = out.regions["mi (aux)/squad/0"]!, miEnd = out.regions["mi (aux)/squad/199"]!
        XCTAssertLessThan(mi.midY, miEnd.midY)
    }

    func testCurvesFromStepLogsAndMetrics() throws {
        func log(_ s: Int, _ v: Float) -> StepLog {
            StepLog(step: s, total: v, taskLosses: [("depth", v / 2), ("edge", v / 3)], aux: [("mi", -v / 10)], lr: 1e-3, dropped: 0)
        }
        let runs = [(name: "squad", logs: (1...20).map { log($0, 1 / Float($0)) }), (name: "mtl", logs: (1...20).map { log($0, 2 / Float($0)) })]
        let panels = CurvePanel.losses(runs)
        XCTAssertEqual(panels.map(\.title), ["total loss", "depth loss", "edge loss", "mi (aux)"])
        XCTAssertEqual(panels[1].series.map(\.name), ["squad", "mtl"])
        XCTAssertEqual(panels[1].series[1].points.count, 20)
        XCTAssertEqual(panels[1].series[1].points[3].y, 1 / 4, accuracy: 1e-6)
        let metrics = CurvePanel.metrics([(name: "squad", evaluations: [(step: 10, values: ["depth/l1": 0.5, "edge/f1": 0.7]), (step: 20, values: ["depth/l1": 0.4, "edge/f1": 0.8])])])
        XCTAssertEqual(metrics.map(\.title), ["depth/l1", "edge/f1"])
        let out = try plotCurves(panels + metrics, to: path("logs.png"), columns: 3)
        _ = try PlotCheck.png(out.paths[0], 28 + 3 * 420 + 2 * 18, 28 + 2 * 300 + 18)
    }

    func testCurveErrors() {
        XCTAssertThrowsError(try plotCurves([], to: path("c.png"))) { XCTAssertTrue("\($0)".contains("no panels to draw"), "\($0)") }
        XCTAssertThrowsError(try plotCurves([CurvePanel("loss", series: [])], to: path("c.png"))) { XCTAssertTrue("\($0)".contains("panel 'loss' has no series"), "\($0)") }
        XCTAssertThrowsError(try plotCurves([CurvePanel("loss", series: [Series("a", values: [.nan])])], to: path("c.png"))) {
            XCTAssertTrue("\($0)".contains("no finite points"), "\($0)")
        }
        XCTAssertThrowsError(try plotCurves([CurvePanel("loss", series: [Series("a", values: [1])])], to: path("c.png"), panelWidth: 10)) {
            XCTAssertTrue("\($0)".contains("too small"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("c.png")))
        // One point, a constant series and gaps draw without trouble.
        XCTAssertNoThrow(try plotCurves([CurvePanel("one", series: [Series("a", values: [3]), Series("b", values: [1, .nan, 1, 1])])], to: path("ok.png")))
    }

    // MARK: bars

    func testBarsHeightsFollowValuesAndColoursFollowNames() throws {
        let out = try plotCosts(parameters: [("squad", 20e6), ("extracted", 10e6), ("mtl", 15e6)],
                                flops: [("depth", [("squad", 4e9), ("extracted", 4e9), ("mtl", 5e9)]), ("edge", [("squad", 4e9), ("mtl", 5e9)])],
                                to: path("costs.png"), title: nil)
        let img = try PlotCheck.png(out.paths[0], 28 + 2 * 460 + 18, 28 + 320)
        let sq = out.regions["parameters/squad/parameters"]!, ex = out.regions["parameters/extracted/parameters"]!
        XCTAssertEqual(ex.height / sq.height, 0.5, accuracy: 0.01)
        XCTAssertEqual(sq.maxY, ex.maxY, accuracy: 0.01, "bars stand on one baseline")
        let d = out.regions["FLOPs per task (one image)/depth/mtl"]!, s = out.regions["FLOPs per task (one image)/depth/squad"]!
        XCTAssertEqual(d.height / s.height, 1.25, accuracy: 0.01)
        XCTAssertNil(out.regions["FLOPs per task (one image)/edge/extracted"], "a missing value draws no bar")
        // A model has one colour in both charts.
        for name in ["squad", "extracted", "mtl"] {
            let p = out.regions["parameters/\(name)/parameters"]!, f = out.regions["FLOPs per task (one image)/depth/\(name)"]!
            let want = Palette.categorical(["squad", "extracted", "mtl"].firstIndex(of: name)!)
            PlotCheck.assertColor(img, p.midX, p.maxY - 3, want, "parameters bar \(name)")
            PlotCheck.assertColor(img, f.midX, f.maxY - 3, want, "FLOPs bar \(name)")
        }
        XCTAssertEqual(parameterCounts([(name: "toy", model: try SquadModel(Toy.config()))]).first?.value,
                       Double(try SquadModel(Toy.config()).parameterCount))
    }

    func testBarErrors() {
        XCTAssertThrowsError(try plotCosts(parameters: [], to: path("b.png"))) { XCTAssertTrue("\($0)".contains("no parameter counts"), "\($0)") }
        XCTAssertThrowsError(try plotBars([BarPanel("p", categories: ["a", "b"], series: [BarSeries("s", values: [1])])], to: path("b.png"))) {
            XCTAssertEqual("\($0)", "plot_bars: panel 'p': series 's' has 1 values for 2 categories")
        }
        XCTAssertThrowsError(try plotBars([BarPanel("p", values: [])], to: path("b.png"))) { XCTAssertTrue("\($0)".contains("has no categories"), "\($0)") }
        XCTAssertThrowsError(try plotBars([BarPanel("p", values: [("a", .nan)])], to: path("b.png"))) { XCTAssertTrue("\($0)".contains("no finite values"), "\($0)") }
    }

    // MARK: predictions

    /// Two 8×8 RGB images with values in [0, 1] and a known pattern.
    func images() -> Tensor {
        let x = Tensor(zeros: [2, 3, 8, 8])
        for i in 0..<x.count { x.data[i] = Float((i * 37) % 101) / 100 }
        return x
    }

    func testDensePredictionsDrawInputTargetAndPrediction() throws {
        let x = images()
        var rng = RNG(seed: 4)
        let pred = Tensor.normal([2, 1, 8, 8], rng: &rng), target = Tensor.normal([2, 1, 8, 8], rng: &rng)
        let out = try plotPredictions(task: "depth", kind: .dense, images: x, predictions: pred, targets: .values(target), to: path("p.png"))
        let img = try PlotCheck.png(out.paths[0], 28 + 64 + 3 * 128 + 16, 28 + 36 + 26 + 2 * 128 + 8)
        for s in 0..<2 {
            let inR = out.regions["#\(s)/input"]!, tR = out.regions["#\(s)/target"]!, pR = out.regions["#\(s)/prediction"]!
            XCTAssertEqual(inR.width, 128, accuracy: 1e-9)
            let vals = (0..<64).map { Double(pred.data[s * 64 + $0]) } + (0..<64).map { Double(target.data[s * 64 + $0]) }
            let lo = vals.min()!, hi = vals.max()!
            for (py, px) in [(0, 0), (3, 5), (7, 7), (5, 1)] {
                let p = py * 8 + px
                func at(_ r: PlotRect) -> (Double, Double) { (r.x + (Double(px) + 0.5) * 16, r.y + (Double(py) + 0.5) * 16) }
                let (ix, iy) = at(inR)
                let rgb = (0..<3).map { Double(x.data[((s * 3 + $0) * 64) + p]) }
                PlotCheck.assertColor(img, ix, iy, Color(r: rgb[0], g: rgb[1], b: rgb[2]), tolerance: 1, "input pixel")
                let (qx, qy) = at(pR)
                PlotCheck.assertColor(img, qx, qy, ColorMap.viridis.color(Double(pred.data[s * 64 + p]), lo: lo, hi: hi), "prediction pixel")
                let (tx, ty) = at(tR)
                PlotCheck.assertColor(img, tx, ty, ColorMap.viridis.color(Double(target.data[s * 64 + p]), lo: lo, hi: hi), "target pixel")
            }
        }
    }

    func testSegmentationLabelsAndPluginPictures() throws {
        let x = images()
        let logits = Tensor(zeros: [2, 4, 8, 8])
        for s in 0..<2 { for p in 0..<64 { logits.data[(s * 4 + (p % 4)) * 64 + p] = 5 } }   // class = p mod 4
        let labels = (0..<128).map { ($0 / 8) % 4 }                                           // class = row mod 4
        let out = try plotPredictions(task: "segment", kind: .dense, images: x, predictions: logits, targets: .labels(labels), samples: [1], to: path("seg.png"))
        let img = try PlotCheck.png(out.paths[0], nil, 28 + 36 + 26 + 128)
        let pR = out.regions["#1/prediction"]!, tR = out.regions["#1/target"]!
        for p in [0, 9, 22, 63] {
            let (px, py) = (p % 8, p / 8)
            PlotCheck.assertColor(img, pR.x + (Double(px) + 0.5) * 16, pR.y + (Double(py) + 0.5) * 16, Palette.categorical(p % 4), tolerance: 1)
            PlotCheck.assertColor(img, tR.x + (Double(px) + 0.5) * 16, tR.y + (Double(py) + 0.5) * 16, Palette.categorical(py % 4), tolerance: 1)
        }
        // With a plugin, its pictures are drawn (red prediction, green target).
        let q = try plotPredictions(task: "depth", kind: .dense, images: x, predictions: Tensor(zeros: [2, 1, 8, 8]), targets: .values(Tensor(zeros: [2, 1, 8, 8])),
                                    plugin: SolidPicturePlugin("depth"), to: path("plug.png"))
        let qi = try PlotCheck.png(q.paths[0], q.width, q.height)
        for s in 0..<2 {
            PlotCheck.assertColor(qi, q.regions["#\(s)/prediction"]!.midX, q.regions["#\(s)/prediction"]!.midY, Color(r: 1, g: 0, b: 0), tolerance: 0)
            PlotCheck.assertColor(qi, q.regions["#\(s)/target"]!.midX, q.regions["#\(s)/target"]!.midY, Color(r: 0, g: 1, b: 0), tolerance: 0)
        }
        // A plugin that fails names the task, the sample and the plugin.
        let big = Tensor(zeros: [3, 3, 8, 8])
        XCTAssertThrowsError(try plotPredictions(task: "depth", kind: .dense, images: big, predictions: Tensor(zeros: [3, 1, 8, 8]), targets: nil,
                                                 plugin: SolidPicturePlugin("depth"), samples: [2], to: path("fail.png"))) { e in
            XCTAssertTrue("\(e)".contains("task 'depth', sample 2: plugin 'depth' could not draw it"), "\(e)")
        }
    }

    func testGlobalPredictionsShowTrueAndPredictedLabels() throws {
        let x = images()
        let logits = try Tensor([0, 3, 0, /* */ 2, 0, 0], shape: [2, 3])
        let out = try plotPredictions(task: "which", kind: .global, images: x, predictions: logits, targets: .labels([1, 2]),
                                      classNames: ["red", "green", "blue"], to: path("g.png"))
        let img = try PlotCheck.png(out.paths[0], 28 + 64 + 3 * 128 + 16, 28 + 36 + 26 + 2 * 128 + 8)
        XCTAssertTrue(PlotCheck.contains(img, out.regions["#0/predicted"]!, .good), "a right answer is green")
        XCTAssertFalse(PlotCheck.contains(img, out.regions["#0/predicted"]!, .bad))
        XCTAssertTrue(PlotCheck.contains(img, out.regions["#1/predicted"]!, .bad), "a wrong answer is red")
        XCTAssertTrue(PlotCheck.contains(img, out.regions["#1/true"]!, .ink))
        // The model variant runs a forward pass; a plugin's captions replace the default text.
        let m = try SquadModel(Toy.config())
        var rng = RNG(seed: 2)
        let (bx, by) = Toy.batch(3, rng: &rng)
        let viaModel = try plotPredictions(m, images: bx, targets: by, task: "which", plugin: SolidPicturePlugin("which", kind: .global), to: path("m.png"))
        XCTAssertEqual(viaModel.regions.keys.filter { $0.hasSuffix("/predicted") }.count, 3)
        XCTAssertTrue(m.training, "the model's mode is restored")
        let dense = try plotPredictions(m, images: bx, targets: by, task: "edge", samples: [2], to: path("e.png"))
        _ = try PlotCheck.png(dense.paths[0], dense.width, 28 + 36 + 26 + 128)
    }

    func testPredictionErrors() throws {
        let x = images()
        XCTAssertThrowsError(try plotPredictions(task: "d", kind: .dense, images: x, predictions: Tensor(zeros: [2, 3]), targets: nil, to: path("e.png"))) {
            XCTAssertTrue("\($0)".contains("task 'd' is dense: predictions must be [B, C, H, W]"), "\($0)")
        }
        XCTAssertThrowsError(try plotPredictions(task: "d", kind: .global, images: x, predictions: Tensor(zeros: [3, 2]), targets: nil, to: path("e.png"))) {
            XCTAssertTrue("\($0)".contains("do not hold the 2 images"), "\($0)")
        }
        XCTAssertThrowsError(try plotPredictions(task: "d", kind: .global, images: x, predictions: Tensor(zeros: [2, 2]), targets: nil, samples: [5], to: path("e.png"))) {
            XCTAssertEqual("\($0)", "plot_predictions: sample 5 is outside the batch of 2")
        }
        XCTAssertThrowsError(try plotPredictions(task: "d", kind: .dense, images: x, predictions: Tensor(zeros: [2, 1, 8, 8]), targets: .labels([1, 2]), to: path("e.png"))) {
            XCTAssertTrue("\($0)".contains("2 label pixels for 2 maps of 64"), "\($0)")
        }
        let m = try SquadModel(Toy.config())
        XCTAssertThrowsError(try plotPredictions(m, images: x, targets: [:], task: "nope", to: path("e.png"))) {
            XCTAssertEqual("\($0)", "plot_predictions: the model has no task 'nope'; it has: bright, edge, which")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.png")))
    }

    // MARK: routes

    /// Top-1 router columns per task per sample per patch, read straight from a forward pass's record.
    func expectedRoutes(_ m: SquadModel, _ x: Tensor, layer: String) throws -> [String: [[Int]]] {
        m.eval()
        defer { m.train() }
        let out = try Autograd.noGrad { try m(x) }
        let rec = out.records.first { $0.layer == layer }!
        let b = x.shape[0], g = m.grid, n = g * g + (m.config.clsToken ? 1 : 0)
        var r: [String: [[Int]]] = [:]
        for seg in rec.segments {
            r[seg.task] = (0..<b).map { s in (0..<(g * g)).map { p in rec.routerChoices[(seg.start + s * n + p + (m.config.clsToken ? 1 : 0)) * rec.topK] } }
        }
        return r
    }

    /// A toy squad on 16×16 images with 4×4 patches (16 patches), 6 experts.
    func routeModel(cls: Bool) throws -> (SquadModel, Tensor) {
        var c = try Toy.config(layout: "alternate", experts: 6, topK: 2, seed: 3)
        c.image = 16; c.clsToken = cls
        var rng = RNG(seed: 9)
        return (try SquadModel(c), Tensor.normal([3, 3, 16, 16], rng: &rng))
    }

    func testRoutePanelsShowEachPatchsTopOneExpert() throws {
        for cls in [false, true] {
            let (m, x) = try routeModel(cls: cls)
            let want = try expectedRoutes(m, x, layer: "blocks.1.mlp")
            let routes = try routeMap(m, images: x, layer: "blocks.1.mlp", samples: [0, 2])
            XCTAssertEqual(routes.tasks, ["bright", "edge", "which"])
            XCTAssertEqual(routes.width, 6)
            for t in routes.tasks { XCTAssertEqual(routes.experts[t]!, [want[t]![0], want[t]![2]], "cls \(cls) task \(t)") }
            XCTAssertGreaterThan(Set(routes.experts.values.joined().joined()).count, 1, "routing varies")
            // alpha 1: each patch is exactly its expert's colour.
            let out = try plotRoutes(routes, images: x, to: path("routes\(cls).png"), alpha: 1)
            let img = try PlotCheck.png(out.paths[0], 28 + 64 + 4 * 160 + 3 * 8, 28 + 36 + 26 + 2 * 160 + 8 + 18 + 18)
            for (row, s) in [0, 2].enumerated() {
                for t in routes.tasks {
                    for p in 0..<16 {
                        guard let r = out.regions["#\(s)/\(t)/\(p)"] else { return XCTFail("no patch #\(s)/\(t)/\(p)") }
                        PlotCheck.assertColor(img, r.midX, r.midY, Palette.categorical(want[t]![s][p]), tolerance: 1, "cls \(cls) #\(s) \(t) patch \(p)")
                    }
                    let first = out.regions["#\(s)/\(t)/0"]!, last = out.regions["#\(s)/\(t)/15"]!
                    XCTAssertLessThan(first.x, last.x); XCTAssertLessThan(first.y, last.y)
                    _ = row
                }
            }
            // The legend lists exactly the experts used, in their colours.
            let used = Set(routes.experts.values.joined().joined())
            for e in 0..<6 {
                let key = "legend/expert \(e)"
                XCTAssertEqual(out.regions[key] != nil, used.contains(e), key)
                if let r = out.regions[key] { PlotCheck.assertColor(img, r.midX, r.midY, Palette.categorical(e), tolerance: 1, key) }
            }
        }
    }

    func testRoutesOverTheImageAndOfAnExtractedModel() throws {
        let (m, x) = try routeModel(cls: false)
        let out = try plotRoutes(m, images: x, to: path("default.png"))
        XCTAssertTrue(out.paths[0].hasSuffix("default.png"))
        let img = try PlotCheck.png(out.paths[0], out.width, out.height)
        let routes = try routeMap(m, images: x)
        XCTAssertEqual(routes.layer, "blocks.0.attn", "the first MoE layer by default")
        // Blended over a gray image, a patch's colour is nearest to its own expert's tint.
        for t in routes.tasks {
            for p in [0, 5, 15] {
                let r = out.regions["#0/\(t)/\(p)"]!
                guard let px = img.pixel(at: r.midX, r.midY) else { return XCTFail("no pixel") }
                func hueDistance(_ e: Int) -> Double {
                    let c = Palette.categorical(e)
                    // Remove the gray: compare channel differences (colour minus its mean).
                    let a: [Double] = [Double(px.r) / 255, Double(px.g) / 255, Double(px.b) / 255]
                    let b: [Double] = [c.r, c.g, c.b]
                    let ma: Double = (a[0] + a[1] + a[2]) / 3, mb: Double = (b[0] + b[1] + b[2]) / 3
                    var d: Double = 0
                    for k in 0..<3 { let q: Double = (a[k] - ma) - 0.6 * (b[k] - mb); d += q * q }
                    return d
                }
                XCTAssertEqual((0..<6).min { hueDistance($0) < hueDistance($1) }, routes.experts[t]![0][p], "task \(t) patch \(p)")
            }
        }
        // An extracted model keeps the full model's expert numbers (router columns).
        for l in ["blocks.0.attn", "blocks.1.mlp"] { for t in m.tasks { m.usage.set(layer: l, task: t, ema: [9, 0.1, 9, 0.1, 0, 0]) } }
        let (small, _) = try m.extract(task: "edge")
        let r = try routeMap(small, images: x, layer: "blocks.1.mlp")
        XCTAssertEqual(r.tasks, ["edge"]); XCTAssertEqual(r.width, 6)
        XCTAssertTrue(r.experts["edge"]![0].allSatisfy { [-1, 0, 2].contains($0) }, "\(r.experts)")
        XCTAssertNoThrow(try plotRoutes(r, images: x, to: path("extracted.png")))
    }

    func testRouteErrors() throws {
        let (m, x) = try routeModel(cls: false)
        XCTAssertThrowsError(try plotRoutes(m, images: x, layer: "blocks.0.mlp", to: path("r.png"))) {
            XCTAssertEqual("\($0)", "plot_routes: no MoE layer 'blocks.0.mlp'; the model has: blocks.0.attn, blocks.1.mlp")
        }
        XCTAssertThrowsError(try plotRoutes(m, images: Tensor(zeros: [1, 3, 8, 8]), to: path("r.png"))) {
            XCTAssertTrue("\($0)".contains("images must be [B, 3, 16, 16] for this model"), "\($0)")
        }
        XCTAssertThrowsError(try plotRoutes(m, images: x, tasks: ["nope"], to: path("r.png"))) { XCTAssertTrue("\($0)".contains("no task 'nope'"), "\($0)") }
        XCTAssertThrowsError(try plotRoutes(m, images: x, samples: [3], to: path("r.png"))) { XCTAssertTrue("\($0)".contains("sample 3 is outside the batch of 3"), "\($0)") }
        XCTAssertThrowsError(try plotRoutes(m, images: x, to: path("r.png"), alpha: 2)) { XCTAssertTrue("\($0)".contains("alpha"), "\($0)") }
        let dense = try SquadModel(Toy.config(layout: "dense"))
        XCTAssertThrowsError(try plotRoutes(dense, images: Tensor(zeros: [1, 3, 8, 8]), to: path("r.png"))) { e in
            guard case PlotError.emptyStatistics = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("no MoE layer"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.png")))
    }
}

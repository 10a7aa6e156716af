// Route maps: for one MoE layer, the expert each patch's top-1 slot chose, per task, drawn over the input image.
import Foundation
import SquadTensor
import ModSquad

/// Top-1 experts per patch of one MoE layer: experts[task][row][patch] for the drawn samples.
public struct RouteMap: Equatable {
    public let layer: String
    public let grid: Int
    public let tasks: [String]
    /// Indices into the batch the map was computed from, one per row.
    public let samples: [Int]
    /// The expert chosen by slot 0 (the highest gate) as a router column, so an extracted model's experts keep
    /// their full-model numbers; −1 where that expert was removed by extraction. Patches are row-major.
    public let experts: [String: [[Int]]]
    /// Router width (experts the layer's router chooses among).
    public let width: Int

    /// From a forward pass's record: `batch` images per task segment, `grid`×`grid` patches, an optional cls token
    /// first in each image (not a patch). `samples` index the batch.
    public init(record: RouterRecord, grid: Int, clsToken: Bool, batch: Int, samples: [Int], routerWidth: Int? = nil) throws {
        let plot = "plot_routes"
        let n = grid * grid + (clsToken ? 1 : 0), k = record.topK
        guard grid > 0, batch > 0, k >= 1 else { throw PlotError.badInput(plot: plot, message: "grid \(grid), batch \(batch), top-k \(k)") }
        var ex: [String: [[Int]]] = [:], tasks: [String] = []
        for seg in record.segments {
            guard seg.count == batch * n else {
                throw PlotError.badInput(plot: plot, message: "layer '\(record.layer)': task '\(seg.task)' has \(seg.count) rows, expected \(batch) images × \(n) tokens")
            }
            var rows: [[Int]] = []
            for s in samples {
                guard s >= 0, s < batch else { throw PlotError.badInput(plot: plot, message: "sample \(s) is outside the batch of \(batch)") }
                rows.append((0..<(grid * grid)).map { p in
                    let row = seg.start + s * n + p + (clsToken ? 1 : 0)
                    let i = row * k
                    guard i < record.choices.count, i < record.routerChoices.count else { return -1 }
                    return record.choices[i] < 0 ? -1 : record.routerChoices[i]
                })
            }
            tasks.append(seg.task)
            ex[seg.task] = rows
        }
        self.layer = record.layer; self.grid = grid; self.tasks = tasks; self.samples = samples; self.experts = ex
        self.width = max(routerWidth ?? record.experts, (record.routerChoices.max() ?? -1) + 1)
    }
}

/// MoE layer names of a model, in order ("blocks.0.attn", "blocks.1.mlp", ...), with their router widths.
func moeLayers(_ model: SquadModel) -> [(name: String, width: Int)] {
    var out: [(String, Int)] = []
    for (i, b) in model.config.blocks.enumerated() {
        if case let .moa(e, _) = b.attention { out.append(("blocks.\(i).attn", b.attentionRouter?.width ?? e)) }
        if case let .moe(e, _) = b.mlp { out.append(("blocks.\(i).mlp", b.mlpRouter?.width ?? e)) }
    }
    return out
}

/// Runs `model` (evaluation mode, no gradients) on the chosen `samples` of `images` [B, C, H, W] for `tasks`
/// (default all) and reads `layer`'s (default: the first MoE layer) top-1 choices per patch.
public func routeMap(_ model: SquadModel, images: Tensor, layer: String? = nil, tasks: [String]? = nil, samples: [Int]? = nil) throws -> RouteMap {
    let plot = "plot_routes"
    let layers = moeLayers(model)
    guard !layers.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "the model has no MoE layer, so there are no routes") }
    let name = layer ?? layers[0].name
    guard let width = layers.first(where: { $0.name == name })?.width else {
        throw PlotError.badInput(plot: plot, message: "no MoE layer '\(name)'; the model has: \(layers.map(\.name).joined(separator: ", "))")
    }
    let ts = tasks ?? model.tasks
    guard !ts.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "the model has no tasks") }
    for t in ts where !model.tasks.contains(t) {
        throw PlotError.badInput(plot: plot, message: "the model has no task '\(t)'; it has: \(model.tasks.joined(separator: ", "))")
    }
    let c = model.config
    guard images.ndim == 4, images.shape[0] > 0, images.shape[1] == c.channels, images.shape[2] == c.image, images.shape[3] == c.image else {
        throw PlotError.badInput(plot: plot, message: "images must be [B, \(c.channels), \(c.image), \(c.image)] for this model; got \(images.shape)")
    }
    let b = images.shape[0]
    let rows = samples ?? [0]
    guard !rows.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "the list of samples is empty") }
    for s in rows where s < 0 || s >= b { throw PlotError.badInput(plot: plot, message: "sample \(s) is outside the batch of \(b)") }
    // Only the drawn samples go through the model.
    let per = images.count / b
    let picked = Tensor(uninitialized: [rows.count] + Array(images.shape.dropFirst()))
    for (j, s) in rows.enumerated() { (picked.data + j * per).update(from: images.data + s * per, count: per) }
    let out = try evaluate(model) { try model(picked, tasks: ts) }
    guard let rec = out.records.first(where: { $0.layer == name }) else {
        throw PlotError.badInput(plot: plot, message: "the forward pass recorded no routing for '\(name)'")
    }
    let local = try RouteMap(record: rec, grid: model.grid, clsToken: c.clsToken, batch: rows.count, samples: Array(0..<rows.count), routerWidth: width)
    return RouteMap(layer: local.layer, grid: local.grid, tasks: local.tasks, samples: rows, experts: local.experts, width: local.width)
}

extension RouteMap {
    init(layer: String, grid: Int, tasks: [String], samples: [Int], experts: [String: [[Int]]], width: Int) {
        self.layer = layer; self.grid = grid; self.tasks = tasks; self.samples = samples; self.experts = experts; self.width = width
    }
}

struct RouteGrid: Panel {
    var routes: RouteMap
    var inputs: [Raster]
    var cell: Double
    var alpha: Double

    var columns: [String] { ["input"] + routes.tasks }

    func size(_ c: Canvas) -> (width: Double, height: Double) {
        let n = Double(columns.count), m = Double(inputs.count)
        return (ImageGrid.rowLabelWidth + n * cell + (n - 1) * ImageGrid.gap, ImageGrid.header + m * cell + (m - 1) * ImageGrid.gap)
    }

    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        let x0 = x + ImageGrid.rowLabelWidth, g = routes.grid
        for (j, name) in columns.enumerated() {
            c.text(c.fitted(name, maxWidth: cell, size: FontSize.label, bold: true), x: x0 + Double(j) * (cell + ImageGrid.gap) + cell / 2,
                   y: y + ImageGrid.header / 2, size: FontSize.label, bold: true, align: .center)
        }
        for (i, input) in inputs.enumerated() {
            let ry = y + ImageGrid.header + Double(i) * (cell + ImageGrid.gap)
            let label = "#\(routes.samples[i])"
            c.text(label, x: x + ImageGrid.rowLabelWidth - 8, y: ry + cell / 2, size: FontSize.label, align: .right)
            for (j, col) in columns.enumerated() {
                let box = PlotRect(x: x0 + Double(j) * (cell + ImageGrid.gap), y: ry, width: cell, height: cell)
                let r = try (j == 0 ? input : input.grayscale(lighten: 0.25)).draw(c, in: box)
                regions["\(label)/\(col)"] = r
                guard j > 0, let rows = routes.experts[col], i < rows.count else { c.stroke(r, Color(hex: 0xBBBBBB), lineWidth: 0.8); continue }
                let ex = rows[i], pw = r.width / Double(g), ph = r.height / Double(g)
                for p in 0..<min(ex.count, g * g) {
                    let pr = PlotRect(x: r.x + Double(p % g) * pw, y: r.y + Double(p / g) * ph, width: pw, height: ph)
                    regions["\(label)/\(col)/\(p)"] = pr
                    if ex[p] >= 0 {
                        c.fill(pr, Palette.categorical(ex[p]).with(alpha: alpha))
                    } else {
                        c.line([(pr.x, pr.y), (pr.maxX, pr.maxY)], Color(hex: 0x777777), width: 1)
                        c.line([(pr.x, pr.maxY), (pr.maxX, pr.y)], Color(hex: 0x777777), width: 1)
                    }
                }
                if g > 1 && pw >= 6 {
                    for k in 1..<g {
                        c.line([(r.x + Double(k) * pw, r.y), (r.x + Double(k) * pw, r.maxY)], Color.white.with(alpha: 0.55), width: 0.8, round: false)
                        c.line([(r.x, r.y + Double(k) * ph), (r.maxX, r.y + Double(k) * ph)], Color.white.with(alpha: 0.55), width: 0.8, round: false)
                    }
                }
                c.stroke(r, Color(hex: 0x888888), lineWidth: 0.8)
            }
        }
    }
}

/// Draws a route map over the images it was computed from: a row per sample with the input, then one panel
/// per task whose patches are filled with the colour of their top-1 expert (`alpha` over the image in gray; crossed
/// where the expert was removed by extraction), and a legend of the experts used.
/// Image size (pixels, scale 1, without a wider legend): width = 28 + 64 + (1 + tasks)·cell + tasks·8.
/// Regions: `#<sample>/input`, `#<sample>/<task>`, `#<sample>/<task>/<patch>`, `legend/expert <e>`.
@discardableResult
public func plotRoutes(_ routes: RouteMap, images: Tensor, to path: String, alpha: Double = 0.6, cell: Double = 160,
                       title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_routes"
    guard !routes.tasks.isEmpty, !routes.samples.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "the route map has no tasks or samples") }
    guard alpha >= 0, alpha <= 1 else { throw PlotError.badInput(plot: plot, message: "alpha \(alpha) must be in 0...1") }
    guard cell >= 16, cell <= 2048, cell.isFinite else { throw PlotError.badInput(plot: plot, message: "cell size \(cell) must be in 16...2048") }
    let inputs = try routes.samples.map { try Raster.input(images, $0, plot: plot) }
    let used = Set(routes.experts.values.joined().joined()).sorted()
    var entries = used.filter { $0 >= 0 }.map { Canvas.LegendEntry(label: "expert \($0)", color: Palette.categorical($0).with(alpha: 1), swatch: true) }
    if used.contains(-1) { entries.append(Canvas.LegendEntry(label: "removed by extraction", color: Color(hex: 0x777777), swatch: true)) }
    let grid = RouteGrid(routes: routes, inputs: inputs, cell: cell, alpha: alpha)
    let gw = Canvas.measuring().map { grid.size($0).width } ?? 400
    let legend = LegendRow(entries: entries, maxWidth: max(gw, 300), title: "top-1 expert")
    let t = title ?? "Top-1 routes in \(routes.layer) (\(routes.width) experts)"
    return PlotOutput(files: [try Figure.render([grid], columns: 1, title: t, footer: legend, style: style, path: path, plot: plot)])
}

/// `routeMap` then `plotRoutes`: how each task routes the same images in one MoE layer.
@discardableResult
public func plotRoutes(_ model: SquadModel, images: Tensor, layer: String? = nil, tasks: [String]? = nil, samples: [Int]? = nil,
                       to path: String, alpha: Double = 0.6, cell: Double = 160, title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let routes = try routeMap(model, images: images, layer: layer, tasks: tasks, samples: samples)
    return try plotRoutes(routes, images: images, to: path, alpha: alpha, cell: cell, title: title, style: style)
}

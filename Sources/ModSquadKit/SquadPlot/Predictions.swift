// Prediction grids: rows are samples, columns input | target | prediction (dense maps) or input | true | predicted (labels).
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// One cell of the grid: a picture or a line of text.
enum GridCell {
    case raster(Raster)
    /// A picture with a task's marks drawn over it, in its pixel coordinates.
    case marked(Raster, [DrawnMark])
    case text(String, Color)
    case empty(String)
}

struct ImageGrid: Panel {
    var columns: [String]
    var rows: [(label: String, cells: [GridCell])]
    var cell: Double
    static let rowLabelWidth = 64.0, header = 26.0, gap = 8.0

    func size(_ c: Canvas) -> (width: Double, height: Double) {
        let n = Double(columns.count), m = Double(rows.count)
        return (ImageGrid.rowLabelWidth + n * cell + (n - 1) * ImageGrid.gap, ImageGrid.header + m * cell + (m - 1) * ImageGrid.gap)
    }

    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        let x0 = x + ImageGrid.rowLabelWidth
        for (j, name) in columns.enumerated() {
            c.text(c.fitted(name, maxWidth: cell, size: FontSize.label, bold: true), x: x0 + Double(j) * (cell + ImageGrid.gap) + cell / 2,
                   y: y + ImageGrid.header / 2, size: FontSize.label, bold: true, align: .center)
        }
        for (i, row) in rows.enumerated() {
            let ry = y + ImageGrid.header + Double(i) * (cell + ImageGrid.gap)
            c.text(c.fitted(row.label, maxWidth: ImageGrid.rowLabelWidth - 8, size: FontSize.label), x: x + ImageGrid.rowLabelWidth - 8,
                   y: ry + cell / 2, size: FontSize.label, align: .right)
            for (j, cellValue) in row.cells.enumerated() where j < columns.count {
                let box = PlotRect(x: x0 + Double(j) * (cell + ImageGrid.gap), y: ry, width: cell, height: cell)
                let key = "\(row.label)/\(columns[j])"
                switch cellValue {
                case .raster(let r):
                    let drawn = try r.draw(c, in: box)
                    c.stroke(drawn, Color(hex: 0xBBBBBB), lineWidth: 0.8)
                    regions[key] = drawn
                case let .marked(r, marks):
                    let drawn = try r.draw(c, in: box)
                    c.stroke(drawn, Color(hex: 0xBBBBBB), lineWidth: 0.8)
                    drawMarks(marks, on: drawn, imageWidth: r.width, imageHeight: r.height, c)
                    regions[key] = drawn
                case let .text(s, color):
                    c.fill(box, Color(hex: 0xF6F6F6))
                    let lines = s.components(separatedBy: "\n")
                    for (k, l) in lines.enumerated() {
                        let size = min(FontSize.title, max(7, FontSize.title * (cell - 10) / max(c.textWidth(l, size: FontSize.title, bold: true), 1)))
                        c.text(l, x: box.midX, y: box.midY + (Double(k) - Double(lines.count - 1) / 2) * 18, size: size, color: color, bold: true, align: .center)
                    }
                    regions[key] = box
                case .empty(let why):
                    c.stroke(box.inset(0.5), Color(hex: 0xCCCCCC), lineWidth: 1)
                    c.text(c.fitted(why, maxWidth: cell - 8, size: FontSize.tick), x: box.midX, y: box.midY, size: FontSize.tick, color: .mutedInk, align: .center)
                    regions[key] = box
                }
            }
        }
    }
}

/// The truth's marks in green, the prediction's in orange, scaled from the image's pixels to `r`.
func drawMarks(_ marks: [DrawnMark], on r: PlotRect, imageWidth w: Int, imageHeight h: Int, _ c: Canvas) {
    let sx = r.width / Double(max(w, 1)), sy = r.height / Double(max(h, 1))
    var textLine = 0
    for m in marks {
        let color = m.role == .truth ? Color.good : Color(hex: 0xE8710A)
        switch m.shape {
        case let .point(x, y):
            let px = r.x + (x + 0.5) * sx, py = r.y + (y + 0.5) * sy, s = max(4, min(r.width, r.height) / 14)
            c.line([(px - s, py), (px + s, py)], color, width: 2)
            c.line([(px, py - s), (px, py + s)], color, width: 2)
            c.line((0...24).map { k in (px + s * 0.8 * cos(Double(k) * .pi / 12), py + s * 0.8 * sin(Double(k) * .pi / 12)) }, color, width: 1.5)
            if !m.label.isEmpty { c.text(m.label, x: px + s + 2, y: py - s, size: FontSize.tick, color: color) }
        case let .box(x, y, bw, bh):
            c.stroke(PlotRect(x: r.x + x * sx, y: r.y + y * sy, width: bw * sx, height: bh * sy), color, lineWidth: 2)
            if !m.label.isEmpty { c.text(m.label, x: r.x + x * sx + 2, y: r.y + y * sy - 2, size: FontSize.tick, color: color, baseline: .bottom) }
        case .text(let t):
            c.text(t, x: r.x + 4, y: r.y + 4 + Double(textLine) * (FontSize.tick + 3), size: FontSize.tick, color: color, baseline: .top)
            textLine += 1
        }
    }
}

/// Rows = samples; for a dense task the columns are input | target | prediction, drawn by the task plugin's
/// `picture` when given (its colour map per kind), else 1 channel → viridis on a range shared by target and
/// prediction, 3 → RGB (normals from [−1, 1]), more → argmax classes; labels → the categorical palette.
/// For a global task: input | true | predicted as text (green when the class matches, red when not).
/// `images` [B, C, H, W]; `predictions` [B, C, H, W] or [B, C] for the same samples; `samples` default: the first 4.
/// Image size (pixels, scale 1): width = 28 + 64 + 3·cell + 16, height = 28 + (36 if titled) + 26 + rows·cell + (rows − 1)·8.
/// Regions: `#<sample>/input`, `#<sample>/target` (`true`), `#<sample>/prediction` (`predicted`): the drawn pictures.
@discardableResult
public func plotPredictions(task: String, kind: TaskKind, images: Tensor, predictions: Tensor, targets: TaskTarget?,
                            plugin: TaskPlugin? = nil, samples: [Int]? = nil, classNames: [String]? = nil,
                            to path: String, cell: Double = 128, title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_predictions"
    guard images.ndim == 4 else { throw PlotError.badInput(plot: plot, message: "images must be [B, C, H, W]; got \(images.shape)") }
    let b = images.shape[0]
    guard b > 0 else { throw PlotError.emptyStatistics(plot: plot, message: "no images to draw") }
    guard predictions.ndim >= 1, predictions.shape[0] == b else {
        throw PlotError.badInput(plot: plot, message: "predictions \(predictions.shape) do not hold the \(b) images' samples")
    }
    switch kind {
    case .dense: guard predictions.ndim == 4 else { throw PlotError.badInput(plot: plot, message: "task '\(task)' is dense: predictions must be [B, C, H, W]; got \(predictions.shape)") }
    case .global: guard predictions.ndim == 2 else { throw PlotError.badInput(plot: plot, message: "task '\(task)' is global: predictions must be [B, C]; got \(predictions.shape)") }
    }
    let rows = samples ?? Array(0..<min(b, 4))
    guard !rows.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "the list of samples is empty") }
    for s in rows where s < 0 || s >= b { throw PlotError.badInput(plot: plot, message: "sample \(s) is outside the batch of \(b)") }
    guard cell >= 16, cell <= 2048, cell.isFinite else { throw PlotError.badInput(plot: plot, message: "cell size \(cell) must be in 16...2048") }
    let plane = predictions.ndim == 4 ? predictions.shape[2] * predictions.shape[3] : 0

    var gridRows: [(label: String, cells: [GridCell])] = []
    for s in rows {
        let input = try Raster.input(images, s, plot: plot)
        let what = "task '\(task)', sample \(s)"
        switch kind {
        case .dense:
            var tCell: GridCell = .empty("no target"), pCell: GridCell
            if let p = plugin {
                do {
                    pCell = .raster(try Raster.picture(p.picture(prediction: predictions, target: nil, index: s), plot: plot, what: what + " prediction"))
                    if let t = targets { tCell = .raster(try Raster.picture(p.picture(prediction: nil, target: t, index: s), plot: plot, what: what + " target")) }
                } catch let e as PlotError { throw e } catch {
                    throw PlotError.badInput(plot: plot, message: "\(what): plugin '\(p.name)' could not draw it: \(error)")
                }
            } else {
                guard let pr = DenseFallback.slice(predictions, s) else { throw PlotError.badInput(plot: plot, message: "\(what): no prediction") }
                var tv: (c: Int, h: Int, w: Int, v: [Float])? = nil
                var labels: [Int]? = nil
                switch targets {
                case .values(let t)?:
                    tv = DenseFallback.slice(t, s)
                    if tv == nil { throw PlotError.badInput(plot: plot, message: "\(what): target \(t.shape) is not [B, C, H, W] with this sample") }
                case .labels(let l)?:
                    guard l.count == b * plane else { throw PlotError.badInput(plot: plot, message: "\(what): \(l.count) label pixels for \(b) maps of \(plane)") }
                    labels = Array(l[(s * plane)..<((s + 1) * plane)])
                case nil: break
                }
                let range = DenseFallback.range([pr.v] + (tv.map { [$0.v] } ?? []))
                pCell = .raster(DenseFallback.raster(c: pr.c, h: pr.h, w: pr.w, v: pr.v, range: range))
                if let t = tv { tCell = .raster(DenseFallback.raster(c: t.c, h: t.h, w: t.w, v: t.v, range: range)) }
                if let l = labels { tCell = .raster(Raster.labels(l, height: pr.h, width: pr.w)) }
            }
            gridRows.append(("#\(s)", [.raster(input), tCell, pCell]))
        case .global:
            var (pText, pClass) = GlobalText.prediction(predictions, s, names: classNames)
            var (tText, tClass): (String, Int?) = targets.map { GlobalText.target($0, s, names: classNames) } ?? ("—", nil)
            // A plugin's caption replaces the default text; a picture() that throws shows its error in that panel (in red).
            var pFailed = false, tFailed = false
            if let p = plugin {
                do {
                    let cap = try p.picture(prediction: predictions, target: nil, index: s).caption
                    if !cap.isEmpty { pText = cap }
                } catch { pText = GlobalText.failure(p.name, error); pClass = nil; pFailed = true }
                if let t = targets {
                    do {
                        let cap = try p.picture(prediction: nil, target: t, index: s).caption
                        if !cap.isEmpty { tText = cap }
                    } catch { tText = GlobalText.failure(p.name, error); tClass = nil; tFailed = true }
                }
            }
            let color: Color = pFailed ? .bad : (pClass != nil && tClass != nil) ? (pClass == tClass ? .good : .bad) : .ink
            // a task that locates something draws the true and the predicted marks on the input itself
            var inputCell: GridCell = .raster(input)
            if let d = plugin as? InputDrawingTask {
                let one = Tensor(uninitialized: Array(images.shape.dropFirst()))
                one.data.update(from: images.data + s * one.count, count: one.count)
                do { inputCell = .marked(input, try d.marks(image: one, prediction: predictions, target: targets, index: s)) }
                catch { inputCell = .marked(input, [DrawnMark(.text("marks failed: \(error)"), role: .prediction)]) }
            }
            gridRows.append(("#\(s)", [inputCell, .text(tText, tFailed ? .bad : .ink), .text(pText, color)]))
        }
    }
    let cols = kind == .dense ? ["input", "target", "prediction"] : ["input", "true", "predicted"]
    let grid = ImageGrid(columns: cols, rows: gridRows, cell: cell)
    return PlotOutput(files: [try Figure.render([grid], columns: 1, title: title ?? "\(task): predictions", growForTitle: false,
                                                style: style, path: path, plot: plot)])
}

/// Runs `model` (evaluation mode, no gradients) on `images` and draws `task`'s predictions against `targets[task]`.
@discardableResult
public func plotPredictions(_ model: SquadModel, images: Tensor, targets: [String: TaskTarget], task: String,
                            plugin: TaskPlugin? = nil, samples: [Int]? = nil, classNames: [String]? = nil,
                            to path: String, cell: Double = 128, title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_predictions"
    guard model.tasks.contains(task) else {
        throw PlotError.badInput(plot: plot, message: "the model has no task '\(task)'; it has: \(model.tasks.joined(separator: ", "))")
    }
    let out = try evaluate(model) { try model(images, tasks: [task]) }
    guard let pred = out.predictions[task] else { throw PlotError.badInput(plot: plot, message: "the model gave no prediction for '\(task)'") }
    return try plotPredictions(task: task, kind: try model.spec(task).kind, images: images, predictions: pred, targets: targets[task],
                               plugin: plugin, samples: samples, classNames: classNames, to: path, cell: cell, title: title, style: style)
}

/// Runs `body` with the model in evaluation mode and without gradients, then restores its mode.
func evaluate<T>(_ model: SquadModel, _ body: () throws -> T) throws -> T {
    let was = model.training
    model.eval()
    defer { model.train(was) }
    return try Autograd.noGrad(body)
}

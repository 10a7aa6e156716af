// Training and evaluation curves: panels of named series over steps, several runs overlaid with a legend.
import Foundation
import ModSquad

/// One line: (x, y) points in order, e.g. a task loss over steps. Non-finite points break the line.
public struct Series {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// Series with the same key get the same colour in every panel (e.g. a run name); default: the name.
    public var colorKey: String?
    public var dashed: Bool
    public init(_ name: String, points: [(x: Double, y: Double)], colorKey: String? = nil, dashed: Bool = false) {
        self.name = name; self.points = points; self.colorKey = colorKey; self.dashed = dashed
    }
    /// y values at steps start, start + 1, ...
    public init(_ name: String, values: [Double], start: Double = 1, colorKey: String? = nil, dashed: Bool = false) {
        self.init(name, points: values.enumerated().map { (start + Double($0.offset), $0.element) }, colorKey: colorKey, dashed: dashed)
    }
    var key: String { colorKey ?? name }
}

/// One chart: a title, axis labels and the series drawn in it.
public struct CurvePanel {
    public var title: String
    public var series: [Series]
    public var xLabel: String
    public var yLabel: String
    /// Log10 y axis (non-positive values are left out).
    public var logY: Bool
    /// Exponential smoothing weight in [0, 1) (TensorBoard's); the raw line is drawn faintly behind.
    public var smoothing: Double
    public init(_ title: String, series: [Series], xLabel: String = "step", yLabel: String = "", logY: Bool = false, smoothing: Double = 0) {
        self.title = title; self.series = series; self.xLabel = xLabel; self.yLabel = yLabel; self.logY = logY; self.smoothing = smoothing
    }

    /// One panel per loss term (total, each task, each aux loss), one series per run, in first-seen order.
    public static func losses(_ runs: [(name: String, logs: [StepLog])], logY: Bool = false, smoothing: Double = 0) -> [CurvePanel] {
        var order: [String] = [], data: [String: [Series]] = [:]
        func add(_ panel: String, _ run: String, _ x: Double, _ y: Double) {
            if data[panel] == nil { order.append(panel); data[panel] = [] }
            if let i = data[panel]!.firstIndex(where: { $0.name == run }) { data[panel]![i].points.append((x, y)) }
            else { data[panel]!.append(Series(run, points: [(x, y)])) }
        }
        for (run, logs) in runs {
            for l in logs {
                let x = Double(l.step)
                add("total loss", run, x, Double(l.total))
                for (t, v) in l.taskLosses { add("\(t) loss", run, x, Double(v)) }
                for (a, v) in l.aux { add("\(a) (aux)", run, x, Double(v)) }
            }
        }
        return order.map { CurvePanel($0, series: data[$0]!, yLabel: "loss", logY: logY, smoothing: smoothing) }
    }

    /// One panel per metric name (e.g. "depth/l1"), one series per run, from evaluations at steps.
    public static func metrics(_ runs: [(name: String, evaluations: [(step: Double, values: [String: Double])])]) -> [CurvePanel] {
        var order: [String] = [], data: [String: [Series]] = [:]
        for (run, evals) in runs {
            for (step, values) in evals {
                for k in values.keys.sorted() {
                    if data[k] == nil { order.append(k); data[k] = [] }
                    if let i = data[k]!.firstIndex(where: { $0.name == run }) { data[k]![i].points.append((step, values[k]!)) }
                    else { data[k]!.append(Series(run, points: [(step, values[k]!)])) }
                }
            }
        }
        return order.map { CurvePanel($0, series: data[$0]!, yLabel: "eval") }
    }
}

struct CurveChart: Panel {
    var panel: CurvePanel
    var width: Double, height: Double
    var colors: [String: Color]

    func size(_ c: Canvas) -> (width: Double, height: Double) { (width, height) }

    static func smoothed(_ p: [(x: Double, y: Double)], _ w: Double) -> [(x: Double, y: Double)] {
        guard w > 0 else { return p }
        var out: [(x: Double, y: Double)] = [], last: Double? = nil, n = 0.0
        for (x, y) in p {
            guard y.isFinite else { out.append((x, y)); continue }
            n += 1
            let s = (last ?? 0) * w + (1 - w) * y
            last = s
            out.append((x, s / (1 - pow(w, n))))   // debiased, as TensorBoard
        }
        return out
    }

    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        let p = panel
        let usable: (Double, Double) -> Bool = { px, py in px.isFinite && py.isFinite && (!p.logY || py > 0) }
        let all = p.series.flatMap { $0.points }.filter { usable($0.x, $0.y) }
        c.title(p.title, x: x, y: y + 10, width: width)
        guard !all.isEmpty else {
            c.text("no data", x: x + width / 2, y: y + height / 2, size: FontSize.label, color: .mutedInk, align: .center)
            return
        }
        var xlo = all.map(\.x).min()!, xhi = all.map(\.x).max()!
        var ylo = all.map(\.y).min()!, yhi = all.map(\.y).max()!
        if xhi <= xlo { xlo -= 1; xhi += 1 }
        if p.logY {
            if yhi <= ylo { ylo /= 2; yhi *= 2 }
            let f = pow(yhi / ylo, 0.05); ylo /= f; yhi *= f
        } else {
            if yhi - ylo < 1e-12 * max(1, abs(yhi)) { let d = max(abs(yhi) * 0.1, 1e-3); ylo -= d; yhi += d }
            let pad = (yhi - ylo) * 0.06; ylo -= pad; yhi += pad
        }
        let yTicks = (p.logY ? Ticks.log(ylo, yhi) : Ticks.nice(ylo, yhi, target: 5)).filter { $0 >= ylo && $0 <= yhi }
        let xTicks = Ticks.nice(xlo, xhi, target: max(2, Int(width / 90))).filter { $0 >= xlo && $0 <= xhi }
        let tickW = Ticks.labels(yTicks).map { c.textWidth($0, size: FontSize.tick) }.max() ?? 0
        let left = tickW + 12 + (p.yLabel.isEmpty ? 0 : 18)
        let plot = PlotRect(x: x + left, y: y + 24, width: max(20, width - left - 10), height: max(20, height - 24 - (p.xLabel.isEmpty ? 24 : 42)))
        let sx = Scale(lo: xlo, hi: xhi, from: plot.x, to: plot.maxX)
        let sy = Scale(lo: ylo, hi: yhi, from: plot.maxY, to: plot.y, log: p.logY)
        c.axes(plot, x: sx, xTicks: xTicks, y: sy, yTicks: yTicks, xLabel: p.xLabel, yLabel: p.yLabel)
        regions["\(p.title)/plot"] = plot
        c.clipped(plot.inset(-3)) {
            for s in p.series {
                let col = colors[s.key] ?? .ink
                let pts = s.points.map { usable($0.x, $0.y) ? (sx.map($0.x), sy.map($0.y)) : (Double.nan, Double.nan) }
                let finite = pts.filter { $0.0.isFinite && $0.1.isFinite }
                if p.smoothing > 0 {
                    c.line(pts, col.with(alpha: 0.25), width: 1.2, dash: s.dashed ? [5, 3] : [])
                    let sm = CurveChart.smoothed(s.points, min(max(p.smoothing, 0), 0.999))
                    c.line(sm.map { usable($0.x, $0.y) ? (sx.map($0.x), sy.map($0.y)) : (Double.nan, Double.nan) }, col, width: 2, dash: s.dashed ? [5, 3] : [])
                } else {
                    c.line(pts, col, width: 2, dash: s.dashed ? [5, 3] : [])
                }
                if finite.count <= 40 || finite.count == 1 { for (px, py) in finite { c.circle(px, py, radius: 3, col) } }
                for (i, q) in s.points.enumerated() where usable(q.x, q.y) {
                    regions["\(p.title)/\(s.name)/\(i)"] = PlotRect(x: sx.map(q.x) - 1, y: sy.map(q.y) - 1, width: 2, height: 2)
                }
            }
        }
        // Legend in the plot corner holding the fewest points.
        var names: [String] = []
        let entries: [Canvas.LegendEntry] = p.series.compactMap { s in
            if names.contains(s.name) { return nil }
            names.append(s.name)
            return Canvas.LegendEntry(label: s.name, color: colors[s.key] ?? .ink, dashed: s.dashed)
        }
        guard !entries.isEmpty else { return }
        let (lw, lh) = c.legendSize(entries)
        let corners = [(plot.maxX - lw - 6, plot.y + 6), (plot.maxX - lw - 6, plot.maxY - lh - 6), (plot.x + 6, plot.y + 6), (plot.x + 6, plot.maxY - lh - 6)]
        let screen = all.map { (sx.map($0.x), sy.map($0.y)) }
        let best = corners.min { a, b in
            func n(_ k: (Double, Double)) -> Int { screen.filter { $0.0 >= k.0 - 4 && $0.0 <= k.0 + lw + 4 && $0.1 >= k.1 - 4 && $0.1 <= k.1 + lh + 4 }.count }
            return n(a) < n(b)
        }!
        c.legend(entries, x: best.0, y: best.1)
        regions["\(p.title)/legend"] = PlotRect(x: best.0, y: best.1, width: lw, height: lh)
    }
}

/// Curves in a grid of `columns` panels, each `panelWidth` × `panelHeight` layout units; one legend per panel.
/// A series' colour follows its `colorKey` (or name) across panels, so a run keeps its colour everywhere.
/// Image size (pixels, scale 1): width = 28 + columns·panelWidth + (columns − 1)·18,
/// height = 28 + (36 if titled) + rows·panelHeight + (rows − 1)·18.
/// Regions: `<panel>/plot`, `<panel>/legend`, and `<panel>/<series>/<i>` around each drawn point.
@discardableResult
public func plotCurves(_ panels: [CurvePanel], to path: String, columns: Int = 2, panelWidth: Double = 420, panelHeight: Double = 300,
                       title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_curves"
    guard !panels.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "no panels to draw (no logged values yet)") }
    try checkPanelSize(plot, panelWidth, panelHeight)
    for p in panels {
        guard !p.series.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "panel '\(p.title)' has no series") }
        guard p.series.contains(where: { $0.points.contains { $0.x.isFinite && $0.y.isFinite } }) else {
            throw PlotError.emptyStatistics(plot: plot, message: "panel '\(p.title)' has no finite points")
        }
    }
    var colors: [String: Color] = [:]
    for s in panels.flatMap(\.series) where colors[s.key] == nil { colors[s.key] = Palette.categorical(colors.count) }
    let charts: [Panel] = panels.map { CurveChart(panel: $0, width: panelWidth, height: panelHeight, colors: colors) }
    return PlotOutput(files: [try Figure.render(charts, columns: columns, title: title, growForTitle: false, style: style, path: path, plot: plot)])
}

// Bar charts of labelled values: grouped bars per category (e.g. parameters and per-task FLOPs of squad, extracted models, baselines).
import Foundation
import ModSquad

/// One colour of bars: a value per category of its panel (NaN = no bar).
public struct BarSeries {
    public var name: String
    public var values: [Double]
    public init(_ name: String, values: [Double]) { self.name = name; self.values = values }
}

/// One chart: categories along x, one bar per series in each category.
public struct BarPanel {
    public var title: String
    public var categories: [String]
    public var series: [BarSeries]
    public var yLabel: String
    public init(_ title: String, categories: [String], series: [BarSeries], yLabel: String = "") {
        self.title = title; self.categories = categories; self.series = series; self.yLabel = yLabel
    }
    /// A single-series chart from labelled values (one bar each).
    public init(_ title: String, values: [(label: String, value: Double)], yLabel: String = "") {
        self.init(title, categories: values.map(\.label), series: [BarSeries(title, values: values.map(\.value))], yLabel: yLabel)
    }
}

struct BarChart: Panel {
    var panel: BarPanel
    var width: Double, height: Double
    var colors: [String: Color]

    func size(_ c: Canvas) -> (width: Double, height: Double) { (width, height) }

    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        let p = panel
        let single = p.series.count == 1
        c.title(p.title, x: x, y: y + 10, width: width)
        let vals = p.series.flatMap(\.values).filter { $0.isFinite }
        let entries = single ? [] : p.series.map { Canvas.LegendEntry(label: $0.name, color: colors[$0.name] ?? .ink, swatch: true) }
        let (lw, lh) = entries.isEmpty ? (0, 0) : c.legendSize(entries)
        // Leave headroom for value labels and the legend above the tallest bar.
        var lo = min(0, vals.min() ?? 0), hi = max(0, vals.max() ?? 1)
        if hi <= lo { hi = lo + 1 }
        let plotTop = y + 24, plotBottomPad = p.categories.isEmpty ? 10.0 : 30.0
        let plotH = max(20, height - 24 - plotBottomPad)
        let longest = vals.map { c.textWidth(Ticks.compact($0), size: FontSize.tick) }.max() ?? 0
        let reserve = max(18, min(longest + 6, plotH * 0.3)) + (entries.isEmpty ? 0 : lh + 6)
        if hi > 0 { hi *= plotH / max(plotH - reserve, plotH * 0.3) }
        if lo < 0 {
            lo *= plotH / max(plotH - 18, plotH * 0.3)   // room for the value labels under negative bars
            if hi <= 0 && !entries.isEmpty {              // all negative: the legend gets a band above zero
                let band = min(lh + 10, plotH * 0.4)
                hi = band / (plotH - band) * -lo
            }
        }
        let ticks = Ticks.nice(lo, hi, target: 5).filter { $0 >= lo && $0 <= hi }
        let tickW = Ticks.labels(ticks).map { c.textWidth($0, size: FontSize.tick) }.max() ?? 0
        let left = tickW + 12 + (p.yLabel.isEmpty ? 0 : 18)
        let plot = PlotRect(x: x + left, y: plotTop, width: max(20, width - left - 10), height: plotH)
        let sy = Scale(lo: lo, hi: hi, from: plot.maxY, to: plot.y)
        c.axes(plot, x: nil, xTicks: [], y: sy, yTicks: ticks, xLabel: "", yLabel: p.yLabel)
        regions["\(p.title)/plot"] = plot
        // Each category shows only the series it has, centred in its slot; bars have one width throughout.
        let present = p.categories.indices.map { ci in p.series.indices.filter { ci < p.series[$0].values.count && p.series[$0].values[ci].isFinite } }
        let nc = max(p.categories.count, 1), ns = max(present.map(\.count).max() ?? 1, 1)
        let slot = plot.width / Double(nc)
        let barW = min(slot * 0.78 / Double(ns), 90)
        let zero = sy.map(0)
        for (ci, cat) in p.categories.enumerated() {
            let gx = plot.x + slot * Double(ci) + (slot - barW * Double(present[ci].count)) / 2
            for (k, si) in present[ci].enumerated() {
                let s = p.series[si], v = s.values[ci], top = sy.map(v)
                let r = PlotRect(x: gx + barW * Double(k), y: min(top, zero), width: barW, height: abs(zero - top))
                let col = (single ? colors[cat] : colors[s.name]) ?? .ink
                c.fill(r, col)
                regions["\(p.title)/\(cat)/\(s.name)"] = r
                let label = Ticks.compact(v)
                let tw = c.textWidth(label, size: FontSize.tick)
                if tw <= barW - 2 {   // a margin: labels of neighbouring bars must not touch
                    c.text(label, x: r.midX, y: v >= 0 ? r.y - 3 : r.maxY + 3, size: FontSize.tick, color: .mutedInk, align: .center, baseline: v >= 0 ? .bottom : .top)
                } else if barW >= 8 {
                    let fs = min(FontSize.tick, barW * 0.85)
                    c.text(label, x: r.midX, y: v >= 0 ? r.y - 3 : r.maxY + 3, size: fs, color: .mutedInk, align: v >= 0 ? .left : .right, rotation: 90)
                }
            }
            var fs = FontSize.tick
            let lw = c.textWidth(cat, size: fs)
            if lw > slot - 2 { fs = max(8, fs * (slot - 2) / lw) }
            c.text(c.fitted(cat, maxWidth: slot - 2, size: fs), x: plot.x + slot * (Double(ci) + 0.5), y: plot.maxY + 6,
                   size: fs, align: .center, baseline: .top)
        }
        if !entries.isEmpty {
            c.legend(entries, x: plot.maxX - lw - 4, y: plot.y + 2)
            regions["\(p.title)/legend"] = PlotRect(x: plot.maxX - lw - 4, y: plot.y + 2, width: lw, height: lh)
        }
    }
}

/// Bar charts in a grid of `columns` panels of `panelWidth` × `panelHeight` layout units; values written over bars
/// (12.3k, 4.56M, 2.1G). A series keeps its colour across panels; a single-series panel colours each bar by its category,
/// with the same colour as a series of that name elsewhere.
/// Image size (pixels, scale 1): width = 28 + columns·panelWidth + (columns − 1)·18,
/// height = 28 + (36 if titled) + rows·panelHeight + (rows − 1)·18.
/// Regions: `<panel>/<category>/<series>` for each bar, `<panel>/plot`, `<panel>/legend`.
@discardableResult
public func plotBars(_ panels: [BarPanel], to path: String, columns: Int = 2, panelWidth: Double = 460, panelHeight: Double = 320,
                     title: String? = nil, style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_bars"
    guard !panels.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "no bar panels to draw") }
    try checkPanelSize(plot, panelWidth, panelHeight)
    for p in panels {
        guard !p.categories.isEmpty, !p.series.isEmpty else {
            throw PlotError.emptyStatistics(plot: plot, message: "panel '\(p.title)' has no \(p.categories.isEmpty ? "categories" : "series")")
        }
        for s in p.series where s.values.count != p.categories.count {
            throw PlotError.badInput(plot: plot, message: "panel '\(p.title)': series '\(s.name)' has \(s.values.count) values for \(p.categories.count) categories")
        }
        guard p.series.contains(where: { $0.values.contains { $0.isFinite } }) else {
            throw PlotError.emptyStatistics(plot: plot, message: "panel '\(p.title)' has no finite values")
        }
    }
    var colors: [String: Color] = [:]
    // Series names (or, in single-series panels, category names) share one palette, so "squad" has one colour.
    for p in panels {
        for k in p.series.count == 1 ? p.categories : p.series.map(\.name) where colors[k] == nil { colors[k] = Palette.categorical(colors.count) }
    }
    let charts: [Panel] = panels.map { BarChart(panel: $0, width: panelWidth, height: panelHeight, colors: colors) }
    return PlotOutput(files: [try Figure.render(charts, columns: columns, title: title, growForTitle: false, style: style, path: path, plot: plot)])
}

/// Parameters per model and FLOPs per task and model, side by side: `parameters` as (model, count);
/// `flops` as (task, [(model, FLOPs)]) — a model missing for a task gets no bar.
@discardableResult
public func plotCosts(parameters: [(model: String, value: Double)], flops: [(task: String, values: [(model: String, value: Double)])] = [],
                      to path: String, title: String? = "Model size and compute", style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    var panels: [BarPanel] = []
    if !parameters.isEmpty { panels.append(BarPanel("parameters", values: parameters.map { ($0.model, $0.value) })) }
    if !flops.isEmpty {
        var models: [String] = []
        for (_, vs) in flops { for (m, _) in vs where !models.contains(m) { models.append(m) } }
        let series = models.map { m in BarSeries(m, values: flops.map { f in f.values.first { $0.model == m }?.value ?? .nan }) }
        panels.append(BarPanel("FLOPs per task (one image)", categories: flops.map(\.task), series: series))
    }
    guard !panels.isEmpty else { throw PlotError.emptyStatistics(plot: "plot_costs", message: "no parameter counts and no FLOPs given") }
    return try plotBars(panels, to: path, columns: panels.count, title: title, style: style)
}

/// (name, parameter count) of each model, for `plotCosts`.
public func parameterCounts(_ models: [(name: String, model: SquadModel)]) -> [(model: String, value: Double)] {
    models.map { ($0.name, Double($0.model.parameterCount)) }
}

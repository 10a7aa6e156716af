// Plot furniture: nice ticks and number formats, value axes with grid lines, colour bars, legends and titles.
import Foundation

/// Font sizes in layout units.
enum FontSize {
    static let figureTitle = 16.0
    static let title = 13.0
    static let label = 11.5
    static let tick = 10.5
    static let annotation = 10.0
    static let legend = 10.5
}

public enum Ticks {
    /// About `target` round ticks (1, 2, 2.5, 5 × 10^k) covering [lo, hi].
    public static func nice(_ lo: Double, _ hi: Double, target: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite else { return [] }
        if hi <= lo { return [lo] }
        let raw = (hi - lo) / Double(max(target, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = ceil(lo / step - 1e-9) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 && out.count < 100 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    /// Ticks at 1, 2, 5 × 10^k (or only powers of ten over many decades) inside [lo, hi], lo > 0.
    public static func log(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi >= lo, lo.isFinite, hi.isFinite else { return [] }
        let a = Int(floor(log10(lo))), b = Int(ceil(log10(hi)))
        let mults: [Double] = b - a > 3 ? [1] : [1, 2, 5]
        var out: [Double] = []
        for e in a...b { for m in mults { let v = m * pow(10, Double(e)); if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { out.append(v) } } }
        return out
    }

    /// Labels for a set of ticks with just enough decimals to tell them apart.
    public static func labels(_ ticks: [Double]) -> [String] {
        guard ticks.count > 1 else { return ticks.map { format($0) } }
        let step = zip(ticks.dropFirst(), ticks).map { abs($0 - $1) }.filter { $0 > 0 }.min() ?? 1
        let big = ticks.map { abs($0) }.max() ?? 0
        if big >= 1e5 || (big > 0 && big < 1e-3) { return ticks.map { compact($0) } }
        let decimals = step >= 1 ? 0 : min(6, Int(ceil(-log10(step) - 1e-9)))
        return ticks.map { String(format: "%.\(decimals)f", $0) }
    }

    /// A short general-purpose number: 3, 0.25, 1.5e-04, 12.3k, 4.5M, 2.1G.
    public static func format(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a >= 1e4 { return compact(v) }
        if a == 0 { return "0" }
        if a < 1e-3 { return String(format: "%.1e", v) }
        if v == v.rounded() { return String(format: "%.0f", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        if a >= 1 { return String(format: "%.2f", v) }
        return String(format: "%.3g", v)
    }

    /// 950, 12.3k, 4.56M, 2.1G, 3T (at most three significant digits, no trailing zeros).
    public static func compact(_ v: Double) -> String {
        guard v.isFinite else { return format(v) }
        let a = abs(v)
        if a < 1e-3 && a > 0 { return String(format: "%.1e", v) }
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (u, s) in units where a >= u {
            let x = v / u
            return trimmed(abs(x) >= 100 ? String(format: "%.0f", x) : abs(x) >= 10 ? String(format: "%.1f", x) : String(format: "%.2f", x)) + s
        }
        return a >= 100 || v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.3g", v)
    }

    /// "4.30" → "4.3", "6.00" → "6".
    static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }
}

/// A mapping from data values to one screen axis (linear or log10).
struct Scale {
    var lo: Double, hi: Double
    var from: Double, to: Double
    var log = false
    func map(_ v: Double) -> Double {
        if log {
            guard v > 0 else { return .nan }
            let a = Foundation.log10(lo), b = Foundation.log10(hi)
            return b > a ? from + (Foundation.log10(v) - a) / (b - a) * (to - from) : (from + to) / 2
        }
        return hi > lo ? from + (v - lo) / (hi - lo) * (to - from) : (from + to) / 2
    }
}

extension Canvas {
    /// A bold title centred over `width` starting at x, baseline-centred at y.
    func title(_ s: String, x: Double, y: Double, width: Double, size: Double = FontSize.title) {
        text(fitted(s, maxWidth: width, size: size, bold: true), x: x + width / 2, y: y, size: size, bold: true, align: .center)
    }

    /// Grid lines, frame, tick labels and axis labels around `plot`.
    func axes(_ plot: PlotRect, x: Scale?, xTicks: [Double], y: Scale, yTicks: [Double], xLabel: String, yLabel: String) {
        let yl = Ticks.labels(yTicks)
        for (t, l) in zip(yTicks, yl) {
            let py = y.map(t)
            guard py.isFinite else { continue }
            line([(plot.x, py), (plot.maxX, py)], .grid, width: 1, round: false)
            text(l, x: plot.x - 6, y: py, size: FontSize.tick, color: .mutedInk, align: .right)
        }
        if let x = x {
            let xl = Ticks.labels(xTicks)
            for (t, l) in zip(xTicks, xl) {
                let px = x.map(t)
                guard px.isFinite else { continue }
                line([(px, plot.y), (px, plot.maxY)], .grid, width: 1, round: false)
                text(l, x: px, y: plot.maxY + 5, size: FontSize.tick, color: .mutedInk, align: .center, baseline: .top)
            }
        }
        line([(plot.x, plot.y), (plot.x, plot.maxY), (plot.maxX, plot.maxY)], .frame, width: 1, round: false)
        if !xLabel.isEmpty { text(xLabel, x: plot.midX, y: plot.maxY + 24, size: FontSize.label, align: .center, baseline: .top) }
        if !yLabel.isEmpty {
            let w = yl.map { textWidth($0, size: FontSize.tick) }.max() ?? 0
            text(fitted(yLabel, maxWidth: plot.height, size: FontSize.label), x: plot.x - w - 16, y: plot.midY,
                 size: FontSize.label, align: .center, baseline: .bottom, rotation: 90)
        }
    }

    /// Width a vertical colour bar with these tick labels needs right of its left edge.
    func colorBarWidth(lo: Double, hi: Double, barWidth: Double = 12) -> Double {
        let labels = Ticks.labels(Ticks.nice(lo, hi, target: 4))
        return barWidth + 6 + (labels.map { textWidth($0, size: FontSize.tick) }.max() ?? 0)
    }

    /// A vertical colour bar in `r` (low at the bottom) with ticks on its right.
    func colorBar(_ r: PlotRect, map: ColorMap, lo: Double, hi: Double) {
        let n = max(1, Int(r.height.rounded()))
        for i in 0..<n {
            let t = 1 - (Double(i) + 0.5) / Double(n)
            fill(PlotRect(x: r.x, y: r.y + r.height * Double(i) / Double(n), width: r.width, height: r.height / Double(n) + 0.6), map.color(t))
        }
        stroke(r, .frame, lineWidth: 0.8)
        let ticks = Ticks.nice(lo, hi, target: 4)
        let s = Scale(lo: lo, hi: hi, from: r.maxY, to: r.y)
        for (t, l) in zip(ticks, Ticks.labels(ticks)) {
            let y = s.map(t)
            line([(r.maxX, y), (r.maxX + 3, y)], .frame, width: 1, round: false)
            text(l, x: r.maxX + 5, y: y, size: FontSize.tick, color: .mutedInk)
        }
    }

    /// One legend entry: a line (optionally dashed) or a filled swatch.
    struct LegendEntry { var label: String; var color: Color; var dashed = false; var swatch = false }

    func legendSize(_ entries: [LegendEntry]) -> (Double, Double) {
        let w = (entries.map { textWidth($0.label, size: FontSize.legend) }.max() ?? 0) + 40
        return (w, Double(entries.count) * 16 + 8)
    }

    /// A legend box with its top-left at (x, y).
    func legend(_ entries: [LegendEntry], x: Double, y: Double) {
        guard !entries.isEmpty else { return }
        let (w, h) = legendSize(entries)
        fill(PlotRect(x: x, y: y, width: w, height: h), Color.white.with(alpha: 0.88))
        stroke(PlotRect(x: x, y: y, width: w, height: h), Color(hex: 0xCCCCCC), lineWidth: 0.8)
        for (i, e) in entries.enumerated() {
            let cy = y + 4 + 16 * Double(i) + 8
            if e.swatch {
                fill(PlotRect(x: x + 8, y: cy - 5, width: 20, height: 10), e.color)
            } else {
                line([(x + 6, cy), (x + 30, cy)], e.color, width: 2.2, dash: e.dashed ? [5, 3] : [])
            }
            text(e.label, x: x + 34, y: cy, size: FontSize.legend)
        }
    }
}

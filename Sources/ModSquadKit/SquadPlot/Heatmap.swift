// An annotated heatmap panel: row and column labels, cells coloured by a map, values written in the cells, a colour bar.
import Foundation

struct HeatmapPanel: Panel {
    var title: String
    var subtitle: String = ""
    var rowLabels: [String]
    var columnLabels: [String]
    /// values[row][column]
    var values: [[Double]]
    var lo: Double, hi: Double
    var map: ColorMap = .blues
    /// Cell text for a value (nil: no annotation).
    var annotate: ((Double) -> String)?
    var xLabel: String = ""
    var cellWidth: Double = 30, cellHeight: Double = 24
    var verticalColumnLabels = false
    /// Region names: "<prefix><row label>/<column label>".
    var regionPrefix: String = ""

    var titleHeight: Double { title.isEmpty ? 0 : (subtitle.isEmpty ? 24 : 38) }

    func rowLabelWidth(_ c: Canvas) -> Double {
        (rowLabels.map { c.textWidth($0, size: FontSize.tick) }.max() ?? 0) + 8
    }
    func columnLabelHeight(_ c: Canvas) -> Double {
        verticalColumnLabels ? (columnLabels.map { c.textWidth($0, size: FontSize.tick) }.max() ?? 0) + 8 : 18
    }

    func size(_ c: Canvas) -> (width: Double, height: Double) {
        let gridW = Double(columnLabels.count) * cellWidth, gridH = Double(rowLabels.count) * cellHeight
        let w = rowLabelWidth(c) + gridW + 12 + c.colorBarWidth(lo: lo, hi: hi) + 4
        let h = titleHeight + gridH + columnLabelHeight(c) + (xLabel.isEmpty ? 0 : 18)
        let tw = max(c.textWidth(title, size: FontSize.title, bold: true), c.textWidth(subtitle, size: FontSize.tick))
        return (max(w, tw), h)
    }

    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        let rows = rowLabels.count, cols = columnLabels.count
        guard values.count == rows, values.allSatisfy({ $0.count == cols }) else {
            throw PlotError.badInput(plot: "heatmap", message: "\(values.count) rows of values for \(rows)×\(cols) labels")
        }
        let lw = rowLabelWidth(c)
        let gx = x + lw, gy = y + titleHeight
        let gridW = Double(cols) * cellWidth, gridH = Double(rows) * cellHeight
        if !title.isEmpty {
            // Centred over the grid, shifted right when a wide title would start left of the panel.
            let panelW = size(c).width
            let t = c.fitted(title, maxWidth: panelW, size: FontSize.title, bold: true)
            let st = c.fitted(subtitle, maxWidth: panelW, size: FontSize.tick)
            let half = max(c.textWidth(t, size: FontSize.title, bold: true), c.textWidth(st, size: FontSize.tick)) / 2
            let cx = max(gx + gridW / 2, x + half)
            c.text(t, x: cx, y: y + 10, size: FontSize.title, bold: true, align: .center)
            if !st.isEmpty { c.text(st, x: cx, y: y + 25, size: FontSize.tick, color: .mutedInk, align: .center) }
        }
        // Annotation size: the largest up to the default that fits every cell.
        var annSize = FontSize.annotation
        if let a = annotate {
            let widest = values.joined().map { c.textWidth(a($0), size: FontSize.annotation) }.max() ?? 0
            if widest > cellWidth - 3 { annSize = max(6, FontSize.annotation * (cellWidth - 3) / widest) }
            annSize = min(annSize, cellHeight * 0.55)
        }
        for i in 0..<rows {
            for j in 0..<cols {
                let r = PlotRect(x: gx + Double(j) * cellWidth, y: gy + Double(i) * cellHeight, width: cellWidth, height: cellHeight)
                let v = values[i][j]
                let fill = map.color(v, lo: lo, hi: hi)
                c.fill(r, fill)
                regions[regionPrefix + rowLabels[i] + "/" + columnLabels[j]] = r
                if let a = annotate {
                    c.text(a(v), x: r.midX, y: r.midY, size: annSize, color: Palette.textColor(on: fill), align: .center)
                }
            }
        }
        for i in 0..<rows {
            c.text(rowLabels[i], x: gx - 6, y: gy + (Double(i) + 0.5) * cellHeight, size: FontSize.tick, align: .right)
        }
        for j in 0..<cols {
            let cx = gx + (Double(j) + 0.5) * cellWidth
            if verticalColumnLabels {
                c.text(columnLabels[j], x: cx, y: gy + gridH + 5, size: FontSize.tick, align: .right, rotation: 90)
            } else {
                c.text(c.fitted(columnLabels[j], maxWidth: cellWidth + 4, size: FontSize.tick), x: cx, y: gy + gridH + 4,
                       size: FontSize.tick, align: .center, baseline: .top)
            }
        }
        if !xLabel.isEmpty {
            c.text(xLabel, x: gx + gridW / 2, y: gy + gridH + columnLabelHeight(c) + 2, size: FontSize.label, align: .center, baseline: .top)
        }
        c.colorBar(PlotRect(x: gx + gridW + 12, y: gy, width: 12, height: gridH), map: map, lo: lo, hi: hi)
        regions[regionPrefix + "grid"] = PlotRect(x: gx, y: gy, width: gridW, height: gridH)
    }
}

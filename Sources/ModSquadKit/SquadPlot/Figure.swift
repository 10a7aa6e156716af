// Figures: panels measured first, laid out in a grid under a title, drawn on one canvas and written as PNG.
import Foundation

/// Something drawn in a box of its own natural size.
protocol Panel {
    /// Natural size in layout units (measured with `c`'s fonts).
    func size(_ c: Canvas) -> (width: Double, height: Double)
    /// Draws with the top-left corner at (x, y), recording named regions in layout units.
    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws
}

enum Figure {
    static let margin = 14.0
    static let titleBand = 36.0
    static let gap = 18.0

    /// Lays `panels` out in rows of `columns` (column widths and row heights from the largest member),
    /// draws them under `title` (widening the figure to fit it when `growForTitle`), plus an optional footer panel spanning the width, and writes `path`.
    static func render(_ panels: [Panel], columns: Int, title: String?, footer: Panel? = nil, growForTitle: Bool = true,
                       style: PlotStyle, path: String, plot: String) throws -> PlotFile {
        guard !panels.isEmpty else { throw PlotError.emptyStatistics(plot: plot, message: "nothing to draw") }
        guard let m = Canvas.measuring() else { throw PlotError.cairo("cannot create a measuring surface") }
        let cols = max(1, min(columns, panels.count)), rows = (panels.count + cols - 1) / cols
        let sizes = panels.map { $0.size(m) }
        var colW = [Double](repeating: 0, count: cols), rowH = [Double](repeating: 0, count: rows)
        for (i, s) in sizes.enumerated() { colW[i % cols] = max(colW[i % cols], s.width); rowH[i / cols] = max(rowH[i / cols], s.height) }
        let top = margin + ((title?.isEmpty ?? true) ? 0 : titleBand)
        let gridW = colW.reduce(0, +) + gap * Double(cols - 1)
        let gridH = rowH.reduce(0, +) + gap * Double(rows - 1)
        let foot: (width: Double, height: Double) = footer.map { $0.size(m) } ?? (0, 0)
        let titleW = growForTitle ? title.map { m.textWidth($0, size: FontSize.figureTitle, bold: true) } ?? 0 : 0
        let w = max(gridW, foot.width, titleW) + 2 * margin
        let h = top + gridH + (footer == nil ? 0 : gap + foot.height) + margin
        let c = try Canvas(width: w, height: h, scale: style.scale)
        var regions: [String: PlotRect] = [:]
        if let t = title, !t.isEmpty { c.title(t, x: margin, y: margin + titleBand / 2 - 4, width: w - 2 * margin, size: FontSize.figureTitle) }
        var y = top
        for r in 0..<rows {
            var x = margin
            for k in 0..<cols {
                let i = r * cols + k
                guard i < panels.count else { break }
                try panels[i].draw(c, x: x, y: y, regions: &regions)
                x += colW[k] + gap
            }
            y += rowH[r] + gap
        }
        if let f = footer { try f.draw(c, x: margin, y: top + gridH + gap, regions: &regions) }
        try c.writePNG(to: path)
        return PlotFile(path: path, width: c.width, height: c.height, regions: regions.mapValues { $0.scaled(style.scale) })
    }

    /// `path` if it names a .png file, else `path`/`stem`.png; for per-item files, `<stem>_<item>.png` beside it.
    static func itemPath(_ path: String, item: String, defaultStem: String) -> String {
        let safe = String(item.map { $0 == "/" || $0 == " " ? "_" : $0 })
        if path.lowercased().hasSuffix(".png") {
            return String(path.dropLast(4)) + "_" + safe + ".png"
        }
        return URL(fileURLWithPath: path).appendingPathComponent("\(defaultStem)_\(safe).png").path
    }
}

/// A row of legend entries as a footer (used under route and curve figures).
struct LegendRow: Panel {
    var entries: [Canvas.LegendEntry]
    var maxWidth: Double
    var title: String = ""
    func layout(_ c: Canvas) -> [(x: Double, y: Double, e: Canvas.LegendEntry)] {
        var out: [(Double, Double, Canvas.LegendEntry)] = []
        let x0 = title.isEmpty ? 0 : c.textWidth(title, size: FontSize.legend, bold: true) + 12
        var x = x0, y = 0.0
        for e in entries {
            let w = 30 + c.textWidth(e.label, size: FontSize.legend) + 16
            if x > x0 && x + w > maxWidth { x = x0; y += 20 }
            out.append((x, y, e)); x += w
        }
        return out
    }
    func size(_ c: Canvas) -> (width: Double, height: Double) {
        let l = layout(c)
        let w = l.map { $0.x + 30 + c.textWidth($0.e.label, size: FontSize.legend) }.max() ?? 0
        return (w, (l.last?.y ?? 0) + 18)
    }
    func draw(_ c: Canvas, x: Double, y: Double, regions: inout [String: PlotRect]) throws {
        if !title.isEmpty { c.text(title, x: x, y: y + 9, size: FontSize.legend, bold: true) }
        for (ex, ey, e) in layout(c) {
            let cy = y + ey + 9
            if e.swatch {
                let r = PlotRect(x: x + ex, y: cy - 7, width: 24, height: 14)
                c.fill(r, e.color)
                regions["legend/" + e.label] = r
            } else {
                c.line([(x + ex, cy), (x + ex + 24, cy)], e.color, width: 2.2, dash: e.dashed ? [5, 3] : [])
            }
            c.text(e.label, x: x + ex + 30, y: cy, size: FontSize.legend)
        }
    }
}

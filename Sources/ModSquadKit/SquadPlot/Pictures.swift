// Turning tensors into pictures: input images, task plugin pictures, fallback maps per kind, and label text.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// A raster ready to draw: planar values in [0, 1], 1 (gray) or 3 (RGB) channels.
struct Raster {
    var values: [Float]
    var channels: Int, height: Int, width: Int

    func draw(_ c: Canvas, in box: PlotRect, alpha: Double = 1) throws -> PlotRect {
        let r = Raster.fit(width: width, height: height, in: box)
        try c.image(planar: values, channels: channels, height: height, width: width, in: r, alpha: alpha)
        return r
    }

    /// Luminance only, lifted towards white by `lighten` ∈ [0, 1] (a quiet background for overlays).
    func grayscale(lighten: Float = 0) -> Raster {
        guard channels == 3 else { return Raster(values: values.map { $0 + (1 - $0) * lighten }, channels: 1, height: height, width: width) }
        let plane = height * width
        let v = (0..<plane).map { p -> Float in
            let l = 0.2126 * values[p] + 0.7152 * values[plane + p] + 0.0722 * values[2 * plane + p]
            return l + (1 - l) * lighten
        }
        return Raster(values: v, channels: 1, height: height, width: width)
    }

    /// The largest rectangle of the raster's aspect centred in `box`.
    static func fit(width: Int, height: Int, in box: PlotRect) -> PlotRect {
        let s = min(box.width / Double(max(width, 1)), box.height / Double(max(height, 1)))
        let w = Double(width) * s, h = Double(height) * s
        return PlotRect(x: box.x + (box.width - w) / 2, y: box.y + (box.height - h) / 2, width: w, height: h)
    }

    /// Sample `i` of images [B, C, H, W] for display: RGB (first three channels) or gray; values already
    /// in [0, 1] are shown as they are, others are stretched from the image's min to its max.
    static func input(_ images: Tensor, _ i: Int, plot: String) throws -> Raster {
        guard images.ndim == 4, images.shape[0] > i, i >= 0, images.shape[1] > 0, images.shape[2] > 0, images.shape[3] > 0 else {
            throw PlotError.badInput(plot: plot, message: "images must be [B, C, H, W] with sample \(i); got \(images.shape)")
        }
        let c = images.shape[1], h = images.shape[2], w = images.shape[3], plane = h * w
        let ch = c >= 3 ? 3 : 1
        var v = [Float](repeating: 0, count: ch * plane)
        let base = images.data + i * c * plane
        for k in 0..<ch { for p in 0..<plane { v[k * plane + p] = base[k * plane + p] } }
        return Raster(values: stretchIfNeeded(v), channels: ch, height: h, width: w)
    }

    static func stretchIfNeeded(_ v: [Float]) -> [Float] {
        let f = v.filter { $0.isFinite }
        guard let lo = f.min(), let hi = f.max() else { return v.map { _ in 0 } }
        if lo >= 0 && hi <= 1 { return v }
        let d = hi - lo
        return v.map { d > 0 ? ($0 - lo) / d : 0.5 }
    }

    /// A plugin picture: [3, H, W] (or [1, H, W], [H, W]) in [0, 1].
    static func picture(_ p: Picture, plot: String, what: String) throws -> Raster {
        let t = p.rgb
        let (c, h, w): (Int, Int, Int)
        switch t.ndim {
        case 3: (c, h, w) = (t.shape[0], t.shape[1], t.shape[2])
        case 2: (c, h, w) = (1, t.shape[0], t.shape[1])
        default: throw PlotError.badInput(plot: plot, message: "\(what): picture must be [3, H, W]; got \(t.shape)")
        }
        guard c == 3 || c == 1, h > 0, w > 0 else { throw PlotError.badInput(plot: plot, message: "\(what): picture must be [3, H, W]; got \(t.shape)") }
        return Raster(values: t.array, channels: c, height: h, width: w)
    }

    /// A colour-mapped single channel.
    static func mapped(_ v: [Float], height: Int, width: Int, map: ColorMap, lo: Float, hi: Float) -> Raster {
        let plane = height * width
        var out = [Float](repeating: 0, count: 3 * plane)
        for p in 0..<plane {
            let c = map.color(Double(v[p]), lo: Double(lo), hi: Double(hi))
            out[p] = Float(c.r); out[plane + p] = Float(c.g); out[2 * plane + p] = Float(c.b)
        }
        return Raster(values: out, channels: 3, height: height, width: width)
    }

    /// Class indices drawn with the categorical palette (negative = ignore, light gray).
    static func labels(_ l: [Int], height: Int, width: Int) -> Raster {
        let plane = height * width
        var out = [Float](repeating: 0, count: 3 * plane)
        for p in 0..<plane {
            let c = l[p] < 0 || l[p] == 255 ? Color(hex: 0xDDDDDD) : Palette.categorical(l[p])
            out[p] = Float(c.r); out[plane + p] = Float(c.g); out[2 * plane + p] = Float(c.b)
        }
        return Raster(values: out, channels: 3, height: height, width: width)
    }
}

/// Dense maps without a plugin: 1 channel → viridis over `range`, 3 → RGB (normals from [−1, 1]),
/// more → argmax classes in the categorical palette.
enum DenseFallback {
    /// Sample i of a [B, C, H, W] map as (channels, h, w, values).
    static func slice(_ t: Tensor, _ i: Int) -> (c: Int, h: Int, w: Int, v: [Float])? {
        guard t.ndim == 4, i >= 0, i < t.shape[0] else { return nil }
        let c = t.shape[1], h = t.shape[2], w = t.shape[3], n = c * h * w
        return (c, h, w, Array(UnsafeBufferPointer(start: t.data + i * n, count: n)))
    }

    static func range(_ parts: [[Float]]) -> (Float, Float) {
        let f = parts.joined().filter { $0.isFinite }
        return (f.min() ?? 0, f.max() ?? 1)
    }

    static func raster(c: Int, h: Int, w: Int, v: [Float], range: (Float, Float)) -> Raster {
        let plane = h * w
        switch c {
        case ...0: return Raster(values: [Float](repeating: 0.5, count: plane), channels: 1, height: h, width: w)
        case 1: return Raster.mapped(v, height: h, width: w, map: .viridis, lo: range.0, hi: range.1)
        case 3:
            let f = v.filter { $0.isFinite }
            if let lo = f.min(), let hi = f.max(), lo >= -1.05, hi <= 1.05, lo < 0 {
                return Raster(values: v.map { ($0 + 1) / 2 }, channels: 3, height: h, width: w)
            }
            return Raster(values: Raster.stretchIfNeeded(v), channels: 3, height: h, width: w)
        default:
            var l = [Int](repeating: 0, count: plane)
            for p in 0..<plane {
                var best = 0
                for k in 1..<c where v[k * plane + p] > v[best * plane + p] { best = k }
                l[p] = best
            }
            return Raster.labels(l, height: h, width: w)
        }
    }
}

/// Text for a global task's value: a class (argmax, with its softmax probability) or a number.
enum GlobalText {
    /// A plugin's picture() error as a few short lines for a text cell.
    static func failure(_ plugin: String, _ error: Error, width: Int = 22, lines: Int = 4) -> String {
        var out: [String] = [], line = ""
        for word in "\(plugin): picture failed: \(error)".split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width { out.append(line); line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { out.append(line) }
        if out.count > lines { out = Array(out.prefix(lines)); out[lines - 1] += " …" }
        return out.joined(separator: "\n")
    }

    static func name(_ k: Int, _ names: [String]?) -> String {
        if let n = names, k >= 0, k < n.count { return n[k] }
        return "class \(k)"
    }

    /// (text, class index when it is a class) of row i of predictions [B, C].
    static func prediction(_ t: Tensor, _ i: Int, names: [String]?) -> (String, Int?) {
        guard t.ndim == 2, i >= 0, i < t.shape[0] else { return ("?", nil) }
        let c = t.shape[1], row = Array(UnsafeBufferPointer(start: t.data + i * c, count: c))
        guard c >= 1 else { return ("—", nil) }
        if c == 1 { return (Ticks.format(Double(row[0])), nil) }
        var best = 0
        for k in 1..<c where row[k] > row[best] { best = k }
        let m = row.max() ?? 0
        let z = row.reduce(Float(0)) { $0 + Foundation.exp($1 - m) }
        let p = Foundation.exp(row[best] - m) / max(z, 1e-30)
        return (name(best, names) + String(format: " (%.0f%%)", 100 * p), best)
    }

    static func target(_ t: TaskTarget, _ i: Int, names: [String]?) -> (String, Int?) {
        switch t {
        case .labels(let l):
            guard i >= 0, i < l.count else { return ("?", nil) }
            return (name(l[i], names), l[i])
        case .values(let v):
            guard v.ndim == 2, i >= 0, i < v.shape[0] else { return ("?", nil) }
            let c = v.shape[1], row = Array(UnsafeBufferPointer(start: v.data + i * c, count: c))
            guard c >= 1 else { return ("—", nil) }
            if c == 1 { return (Ticks.format(Double(row[0])), nil) }
            var best = 0
            for k in 1..<c where row[k] > row[best] { best = k }
            let oneHot = row.allSatisfy { $0 == 0 || $0 == 1 } && row.reduce(0, +) == 1
            return oneHot ? (name(best, names), best) : (row.prefix(4).map { Ticks.format(Double($0)) }.joined(separator: ", "), nil)
        }
    }
}

// What the built-in task plugins share: a base class, target checks, per-pixel losses, and drawing helpers for pictures.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

/// Base of the built-in tasks: the descriptive properties, target checks and side-by-side pictures.
/// Subclasses override `loss`, `metrics` and `draw`.
public class BuiltinTask: TaskPlugin, StandardLossTask {
    public let name: String
    public let summary: String
    public let kind: TaskKind
    public let channels: Int
    public let metricInfo: [MetricInfo]

    init(name: String, summary: String, kind: TaskKind, channels: Int, metrics: [MetricInfo]) {
        self.name = name; self.summary = summary; self.kind = kind; self.channels = channels; self.metricInfo = metrics
    }

    /// The loss kind `loss` computes (L1 unless a subclass says otherwise; nil: a loss of its own).
    public var standardLoss: TaskLoss? { .l1 }

    /// Default: L1 between a dense prediction and its value target (the dense regression
    /// tasks share it); classification, segmentation, normals and regression override it.
    public func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        _ = try checkDense(prediction)
        return try prediction.l1Loss(values(target, like: prediction))
    }
    public func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        throw PluginError.failed(plugin: name, message: "no metrics defined")
    }
    /// One sample drawn as RGB [3, H, W]: a prediction, or a target. `reference` is the target when drawing a
    /// prediction (for a shared value range); `shape` is the prediction when drawing a target (for label maps' size).
    func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        throw PluginError.failed(plugin: name, message: "no picture defined")
    }
    /// Caption text of one sample.
    func caption(prediction: Tensor?, target: TaskTarget?, index: Int) -> String {
        prediction != nil && target != nil ? "\(name): target | prediction" : (prediction != nil ? "\(name): prediction" : "\(name): target")
    }

    /// The target drawn next to the prediction (target left, prediction right), or either alone.
    public func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture {
        var panels: [Tensor] = []
        if let t = target { panels.append(try draw(prediction: nil, target: t, index: index, reference: t, shape: prediction)) }
        if let p = prediction { panels.append(try draw(prediction: p, target: nil, index: index, reference: target, shape: p)) }
        guard !panels.isEmpty else { throw PluginError.failed(plugin: name, message: "picture needs a prediction or a target") }
        return Picture(rgb: try Draw.sideBySide(panels), caption: caption(prediction: prediction, target: target, index: index))
    }

    func bad(_ m: String) -> TaskError { .badTarget(task: name, message: m) }

    /// Prediction [B, C, H, W] with C = channels.
    func checkDense(_ p: Tensor) throws -> (b: Int, c: Int, h: Int, w: Int) {
        guard p.ndim == 4, p.shape[1] == channels else { throw bad("prediction \(p.shape) should be [B, \(channels), H, W]") }
        return (p.shape[0], p.shape[1], p.shape[2], p.shape[3])
    }
    /// Prediction [B, C] with C = channels.
    func checkGlobal(_ p: Tensor) throws -> Int {
        guard p.ndim == 2, p.shape[1] == channels else { throw bad("prediction \(p.shape) should be [B, \(channels)]") }
        return p.shape[0]
    }
    /// The value tensor of a target, of the prediction's shape.
    func values(_ target: TaskTarget, like p: Tensor) throws -> Tensor {
        guard case .values(let t) = target else { throw bad("expects a value tensor, got class labels") }
        guard t.shape == p.shape else { throw bad("target \(t.shape) does not match prediction \(p.shape)") }
        return t
    }
    /// The labels of a target, `count` of them, each −1 (ignored) or in 0..<channels.
    func labels(_ target: TaskTarget, count: Int) throws -> [Int] {
        guard case .labels(let y) = target else { throw bad("expects class labels, got a value tensor") }
        guard y.count == count else { throw bad("expected \(count) labels, found \(y.count)") }
        if let i = y.firstIndex(where: { $0 < -1 || $0 >= channels }) { throw bad("label \(y[i]) at \(i) is outside 0..<\(channels) (−1 is ignored)") }
        return y
    }
    /// Sample `index` of per-pixel labels [B·H·W]: H, W from `shape` ([B, C, H, W]) when given, else square
    /// maps with B the smallest batch that holds `index`.
    func labelMap(_ y: [Int], index: Int, shape: Tensor?) throws -> (ArraySlice<Int>, Int, Int) {
        var h = 0, w = 0
        if let s = shape, s.ndim == 4, s.shape[0] * s.shape[2] * s.shape[3] == y.count { h = s.shape[2]; w = s.shape[3] } else {
            for b in (index + 1)...max(index + 1, y.count) where y.count % b == 0 {
                let side = Int(Double(y.count / b).squareRoot().rounded())
                if side * side * b == y.count { h = side; w = side; break }
            }
        }
        guard h > 0, (index + 1) * h * w <= y.count else { throw bad("cannot tell the size of sample \(index) in \(y.count) pixel labels; pass the prediction too") }
        return (y[(index * h * w)..<((index + 1) * h * w)], h, w)
    }
    func checkIndex(_ index: Int, _ batch: Int) throws {
        guard index >= 0 && index < batch else { throw PluginError.failed(plugin: name, message: "sample \(index) is outside the batch of \(batch)") }
    }
}

enum TaskMath {
    /// [B, C, H, W] -> [B·H·W, C] (pixels as rows), in the graph.
    static func pixelRows(_ p: Tensor) throws -> Tensor {
        let b = p.shape[0], c = p.shape[1], hw = p.shape[2] * p.shape[3]
        return try p.reshaped([b, c, hw]).permuted([0, 2, 1]).reshaped([b * hw, c])
    }

    /// Index of the largest of `c` values at stride `stride` from `base`.
    @inline(__always) static func argmax(_ base: UnsafeMutablePointer<Float>, _ c: Int, stride: Int) -> Int {
        var best = 0
        for k in 1..<max(c, 1) where base[k * stride] > base[best * stride] { best = k }
        return best
    }

    /// Mean IoU over classes present in the target or the prediction, and pixel accuracy, ignoring −1 labels.
    static func segmentation(_ p: Tensor, _ y: [Int]) -> (miou: Double, accuracy: Double) {
        let b = p.shape[0], c = p.shape[1], hw = p.shape[2] * p.shape[3]
        var inter = [Int](repeating: 0, count: c), union = [Int](repeating: 0, count: c), correct = 0, valid = 0
        for i in 0..<b { for k in 0..<hw {
            let label = y[i * hw + k]
            if label < 0 { continue }
            let best = argmax(p.data + i * c * hw + k, c, stride: hw)
            valid += 1
            if best == label { correct += 1; inter[label] += 1; union[label] += 1 } else { union[label] += 1; union[best] += 1 }
        } }
        let present = (0..<c).filter { union[$0] > 0 }
        let miou = present.isEmpty ? 0 : present.map { Double(inter[$0]) / Double(union[$0]) }.reduce(0, +) / Double(present.count)
        return (miou, Double(correct) / Double(max(valid, 1)))
    }

    static func meanAbs(_ p: Tensor, _ t: Tensor) -> Double {
        var s = 0.0
        for i in 0..<p.count { s += Double(Swift.abs(p.data[i] - t.data[i])) }
        return s / Double(max(p.count, 1))
    }
    static func meanSquare(_ p: Tensor, _ t: Tensor) -> Double {
        var s = 0.0
        for i in 0..<p.count { let d = Double(p.data[i] - t.data[i]); s += d * d }
        return s / Double(max(p.count, 1))
    }
}

/// Drawing helpers: every function returns RGB [3, H, W] in [0, 1].
enum Draw {
    /// Sample `index` of [B, C, H, W] as [C, H, W].
    static func sample(_ t: Tensor, _ index: Int) -> Tensor {
        let c = t.shape[1], h = t.shape[2], w = t.shape[3]
        let out = Tensor(uninitialized: [c, h, w])
        out.data.update(from: t.data + index * c * h * w, count: c * h * w)
        return out
    }

    /// Panels side by side with a 2-pixel white gap; heights must agree (shorter ones are padded white).
    static func sideBySide(_ panels: [Tensor]) throws -> Tensor {
        if panels.count == 1 { return panels[0] }
        let h = panels.map { $0.shape[1] }.max()!, gap = 2
        let w = panels.map { $0.shape[2] }.reduce(0, +) + gap * (panels.count - 1)
        let out = Tensor(repeating: 1, shape: [3, h, w])
        var x0 = 0
        for p in panels {
            let ph = p.shape[1], pw = p.shape[2]
            for ch in 0..<3 { for r in 0..<ph { for c in 0..<pw { out.data[(ch * h + r) * w + x0 + c] = p.data[(ch * ph + r) * pw + c] } } }
            x0 += pw + gap
        }
        return out
    }

    /// One channel as grey, mapped from [lo, hi] to [0, 1].
    static func grey(_ m: Tensor, channel: Int = 0, lo: Float = 0, hi: Float = 1) -> Tensor {
        let h = m.shape[1], w = m.shape[2], n = h * w
        let out = Tensor(uninitialized: [3, h, w]), span = max(hi - lo, 1e-6)
        for k in 0..<n { let v = max(0, min(1, (m.data[channel * n + k] - lo) / span)); out.data[k] = v; out.data[n + k] = v; out.data[2 * n + k] = v }
        return out
    }

    /// Three channels as RGB, clamped to [0, 1] (one channel: grey).
    static func rgb(_ m: Tensor) -> Tensor {
        if m.shape[0] != 3 { return grey(m) }
        let out = m.copy()
        for k in 0..<out.count { out.data[k] = max(0, min(1, out.data[k])) }
        return out
    }

    /// A perceptual-ish colour map (dark blue → cyan → yellow → red) of one channel over [lo, hi].
    static func colormap(_ m: Tensor, lo: Float, hi: Float) -> Tensor {
        let stops: [SIMD3<Float>] = [[0.19, 0.07, 0.23], [0.16, 0.47, 0.93], [0.11, 0.85, 0.69], [0.64, 0.99, 0.24], [0.98, 0.73, 0.22], [0.8, 0.16, 0.02]]
        let h = m.shape[1], w = m.shape[2], n = h * w, span = max(hi - lo, 1e-6)
        let out = Tensor(uninitialized: [3, h, w])
        for k in 0..<n {
            let v = m.data[k].isFinite ? max(0, min(1, (m.data[k] - lo) / span)) : 0
            let x = v * Float(stops.count - 1), i = min(Int(x), stops.count - 2), f = x - Float(i)
            let c = stops[i] * (1 - f) + stops[i + 1] * f
            out.data[k] = c.x; out.data[n + k] = c.y; out.data[2 * n + k] = c.z
        }
        return out
    }

    /// Normals [3, H, W] as RGB = (n/|n| + 1) / 2.
    static func normals(_ m: Tensor) -> Tensor {
        let h = m.shape[1], w = m.shape[2], n = h * w
        let out = Tensor(uninitialized: [3, h, w])
        for k in 0..<n {
            let x = m.data[k], y = m.data[n + k], z = m.data[2 * n + k]
            let l = max((x * x + y * y + z * z).squareRoot(), 1e-6)
            out.data[k] = (x / l + 1) / 2; out.data[n + k] = (y / l + 1) / 2; out.data[2 * n + k] = (z / l + 1) / 2
        }
        return out
    }

    static let palette: [SIMD3<Float>] = [
        [0.12, 0.12, 0.12], [0.90, 0.10, 0.29], [0.24, 0.71, 0.29], [1.00, 0.88, 0.10], [0.00, 0.51, 0.78], [0.96, 0.51, 0.19],
        [0.57, 0.12, 0.71], [0.27, 0.94, 0.94], [0.94, 0.20, 0.90], [0.82, 0.96, 0.24], [0.98, 0.75, 0.83], [0.00, 0.50, 0.50],
        [0.86, 0.75, 1.00], [0.67, 0.43, 0.16], [1.00, 0.98, 0.78], [0.50, 0.00, 0.00], [0.67, 1.00, 0.76], [0.50, 0.50, 0.00],
    ]
    /// Class indices (−1: black) in palette colours.
    static func classes(_ labels: ArraySlice<Int>, h: Int, w: Int) -> Tensor {
        let n = h * w, out = Tensor(uninitialized: [3, h, w])
        for (k, l) in labels.enumerated() {
            let c: SIMD3<Float> = l < 0 ? [0, 0, 0] : palette[l % palette.count]
            out.data[k] = c.x; out.data[n + k] = c.y; out.data[2 * n + k] = c.z
        }
        return out
    }

    /// Bars of `values` (each in [0, 1]) on a white field, `marked` bar drawn in green, others grey-blue.
    static func bars(_ values: [Float], marked: Int?, height: Int = 24) -> Tensor {
        let bw = 5, w = max(24, values.count * bw), n = height * w
        let out = Tensor(repeating: 1, shape: [3, height, w])
        for (i, v) in values.enumerated() {
            let top = height - Int((max(0, min(1, v)) * Float(height - 1)).rounded())
            let col: SIMD3<Float> = i == marked ? [0.2, 0.7, 0.2] : [0.35, 0.45, 0.7]
            for r in top..<height { for c in (i * bw)..<(i * bw + bw - 1) {
                out.data[r * w + c] = col.x; out.data[n + r * w + c] = col.y; out.data[2 * n + r * w + c] = col.z
            } }
        }
        return out
    }
}

// Evaluation: per-task metrics from the task's loss kind, and Δm, the mean
// relative gain over a reference (single-task) model with signs by direction.
import Foundation
import SquadTensor

public struct Metric: Equatable, CustomStringConvertible {
    public let name: String
    public let value: Double
    public let higherIsBetter: Bool
    public init(_ name: String, _ value: Double, higherIsBetter: Bool) { self.name = name; self.value = value; self.higherIsBetter = higherIsBetter }
    public var description: String { name + " " + String(format: "%.4g", value) }
}

public enum Metrics {
    /// Metrics of one prediction batch, by the task's loss kind.
    public static func compute(_ spec: TaskSpec, _ pred: Tensor, _ target: TaskTarget) throws -> [Metric] {
        switch (spec.loss, target) {
        case (.crossEntropy, .labels(let y)):
            let c = pred.shape[1]
            let b = pred.shape[0], hw = pred.count / max(b * c, 1)
            var correct = 0, valid = 0
            var inter = [Int](repeating: 0, count: c), union = [Int](repeating: 0, count: c)
            for i in 0..<b { for p in 0..<hw {
                let label = y[i * hw + p]
                if label < 0 { continue }
                var best = 0
                for k in 1..<c where pred.data[(i * c + k) * hw + p] > pred.data[(i * c + best) * hw + p] { best = k }
                valid += 1
                if best == label { correct += 1; inter[label] += 1; union[label] += 1 } else { union[label] += 1; union[best] += 1 }
            } }
            let acc = Double(correct) / Double(max(valid, 1))
            if spec.kind == .global { return [Metric("top1", acc, higherIsBetter: true)] }
            let present = (0..<c).filter { union[$0] > 0 }
            let miou = present.isEmpty ? 0 : present.map { Double(inter[$0]) / Double(union[$0]) }.reduce(0, +) / Double(present.count)
            return [Metric("miou", miou, higherIsBetter: true), Metric("pixel_acc", acc, higherIsBetter: true)]
        case (.l1, .values(let t)), (.mse, .values(let t)):
            guard t.shape == pred.shape else { throw TaskError.badTarget(task: spec.name, message: "target \(t.shape) vs prediction \(pred.shape)") }
            var ae = 0.0, se = 0.0
            for i in 0..<t.count { let d = Double(pred.data[i] - t.data[i]); ae += abs(d); se += d * d }
            let n = Double(max(t.count, 1))
            return [Metric("mae", ae / n, higherIsBetter: false), Metric("rmse", (se / n).squareRoot(), higherIsBetter: false)]
        case (.cosine, .values(let t)):
            guard t.shape == pred.shape else { throw TaskError.badTarget(task: spec.name, message: "target \(t.shape) vs prediction \(pred.shape)") }
            let b = pred.shape[0], c = pred.shape[1], hw = pred.count / max(b * c, 1)
            var angle = 0.0, within = 0
            for i in 0..<b { for p in 0..<hw {
                var dot = 0.0, na = 0.0, nb = 0.0
                for k in 0..<c { let x = Double(pred.data[(i * c + k) * hw + p]), y = Double(t.data[(i * c + k) * hw + p]); dot += x * y; na += x * x; nb += y * y }
                let cos = max(-1, min(1, dot / max((na * nb).squareRoot(), 1e-12)))
                let deg = Foundation.acos(cos) * 180 / Double.pi
                angle += deg; if deg < 11.25 { within += 1 }
            } }
            let n = Double(max(b * hw, 1))
            return [Metric("mean_angle", angle / n, higherIsBetter: false), Metric("within_11.25", Double(within) / n, higherIsBetter: true)]
        default:
            throw TaskError.badTarget(task: spec.name, message: "target kind does not fit the \(spec.loss.rawValue) loss")
        }
    }

    /// Δm = mean over tasks and metrics of ±(M − M_ref)/M_ref (+ when higher is better), in percent.
    public static func deltaM(_ model: [String: [Metric]], reference: [String: [Metric]]) -> Double {
        var total = 0.0, n = 0
        for (task, ms) in model {
            guard let refs = reference[task] else { continue }
            for m in ms {
                guard let r = refs.first(where: { $0.name == m.name }), r.value != 0 else { continue }
                let rel = (m.value - r.value) / abs(r.value)
                total += m.higherIsBetter ? rel : -rel
                n += 1
            }
        }
        return n == 0 ? 0 : 100 * total / Double(n)
    }

    /// Averages metrics over batches weighted by batch size.
    public static func average(_ batches: [([Metric], Int)]) -> [Metric] {
        guard let first = batches.first?.0 else { return [] }
        let w = Double(batches.reduce(0) { $0 + $1.1 })
        return first.indices.map { i in
            let v = batches.reduce(0.0) { $0 + $1.0[i].value * Double($1.1) } / max(w, 1)
            return Metric(first[i].name, v, higherIsBetter: first[i].higherIsBetter)
        }
    }
}

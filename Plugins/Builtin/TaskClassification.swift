// Classification: one class per image, cross-entropy; top-1 accuracy; drawn as probability bars with the class named.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class ClassificationTask: BuiltinTask {
    public let classNames: [String]

    public init(name: String = "class", classes: Int, classNames: [String] = [], summary: String? = nil) {
        self.classNames = classNames
        super.init(name: name, summary: summary ?? "global: class of \(classes) (cross-entropy; top-1)", kind: .global, channels: classes,
                   metrics: [MetricInfo("top1", higherIsBetter: true)])
    }

    func className(_ k: Int) -> String { k >= 0 && k < classNames.count ? classNames[k] : String(k) }

    /// logits [B, C], labels [B] -> [1]
    public override var standardLoss: TaskLoss? { .crossEntropy }
    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        let b = try checkGlobal(prediction)
        return try prediction.crossEntropy(labels(target, count: b), ignoreIndex: -1)
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        let b = try checkGlobal(prediction)
        let y = try labels(target, count: b)
        var correct = 0, valid = 0
        for i in 0..<b where y[i] >= 0 {
            valid += 1
            if TaskMath.argmax(prediction.data + i * channels, channels, stride: 1) == y[i] { correct += 1 }
        }
        return [Metric("top1", Double(correct) / Double(max(valid, 1)), higherIsBetter: true)]
    }

    func probabilities(_ p: Tensor, _ i: Int) -> [Float] {
        let row = (0..<channels).map { p.data[i * channels + $0] }
        let m = row.max() ?? 0, e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        if let p = prediction {
            try checkIndex(index, try checkGlobal(p))
            var truth: Int? = nil
            if case .labels(let y)? = reference, index < y.count { truth = y[index] }
            return Draw.bars(probabilities(p, index), marked: truth)
        }
        guard case .labels(let y)? = target else { throw bad("a class target must be labels") }
        try checkIndex(index, y.count)
        return Draw.bars((0..<channels).map { $0 == y[index] ? 1 : 0 }, marked: y[index])
    }

    override func caption(prediction: Tensor?, target: TaskTarget?, index: Int) -> String {
        var parts: [String] = []
        if case .labels(let y)? = target, index < y.count { parts.append("target \(className(y[index]))") }
        if let p = prediction, p.ndim == 2, p.shape[1] == channels, index < p.shape[0] {
            let pr = probabilities(p, index), k = TaskMath.argmax(p.data + index * channels, channels, stride: 1)
            parts.append("predicted \(className(k)) (\(Int((pr[k] * 100).rounded()))%)")
        }
        return "\(name): " + parts.joined(separator: " | ")
    }
}

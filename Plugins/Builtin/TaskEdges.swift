// Edges (occlusion, texture or outline): one channel in [0, 1], L1; mean absolute error and F1 at 0.5; drawn grey.
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class EdgeTask: BuiltinTask {
    public init(name: String = "edge", summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: edge map, 1 channel (L1; MAE, F1 at 0.5)", kind: .dense, channels: 1,
                   metrics: [MetricInfo("mae", higherIsBetter: false), MetricInfo("f1", higherIsBetter: true)])
    }

    /// F1 of (prediction > 0.5) against (target > 0.5); 1 when neither has an edge.
    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        var tp = 0, fp = 0, fn = 0
        for i in 0..<t.count {
            let p = prediction.data[i] > 0.5, y = t.data[i] > 0.5
            if p && y { tp += 1 } else if p { fp += 1 } else if y { fn += 1 }
        }
        let f1 = tp + fp + fn == 0 ? 1 : 2 * Double(tp) / Double(2 * tp + fp + fn)
        return [Metric("mae", TaskMath.meanAbs(prediction, t), higherIsBetter: false), Metric("f1", f1, higherIsBetter: true)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("an edge target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        return Draw.grey(Draw.sample(m, index))
    }
}

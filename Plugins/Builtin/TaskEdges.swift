// Edges (occlusion, texture or outline): one channel in [0, 1], class-balanced L1; mean absolute error and F1 at 0.5; drawn grey.
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class EdgeTask: BuiltinTask {
    public init(name: String = "edge", summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: edge map, 1 channel (class-balanced L1; MAE, F1 at 0.5)", kind: .dense, channels: 1,
                   metrics: [MetricInfo("mae", higherIsBetter: false), MetricInfo("f1", higherIsBetter: true)])
    }

    /// Not plain L1 (see `loss`): exports name it as this plugin's own.
    public override var standardLoss: TaskLoss? { nil }

    /// L1 with edge and non-edge pixels weighted to half the loss each, w = 0.5/p on edges and 0.5/(1−p)
    /// elsewhere (p: the batch's edge fraction, clamped to 1–99%), as HED balances its cross-entropy. Plain
    /// L1 is minimised by the median, 0 wherever an edge is less than 50% likely: thin edges (~14% of the
    /// pixels in the scenes) were never predicted (F1 0 after 500 steps); balanced, a pixel is marked when
    /// its edge probability exceeds p.
    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        var sum = 0.0
        for i in 0..<t.count { sum += Double(t.data[i]) }
        let p = min(max(sum / Double(max(t.count, 1)), 0.01), 0.99)
        let wPos = Float(0.5 / p), wNeg = Float(0.5 / (1 - p))
        let w = Tensor(uninitialized: t.shape)
        for i in 0..<t.count { w.data[i] = wNeg + (wPos - wNeg) * t.data[i] }   // soft targets weigh in between
        return try prediction.sub(t).abs().mul(w).mean()
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

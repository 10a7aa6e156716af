// Depth: one channel, L1; absolute relative error and RMSE; drawn with a colour map (near dark, far red).
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class DepthTask: BuiltinTask {
    public init(name: String = "depth", summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: depth, 1 channel (L1; abs-rel, RMSE)", kind: .dense, channels: 1,
                   metrics: [MetricInfo("abs_rel", higherIsBetter: false), MetricInfo("rmse", higherIsBetter: false)])
    }

    /// abs_rel = mean over pixels with target > 0 of |p − t| / t; rmse over all pixels.
    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        var rel = 0.0, n = 0
        for i in 0..<t.count where t.data[i] > 0 { rel += Double(Swift.abs(prediction.data[i] - t.data[i]) / t.data[i]); n += 1 }
        return [Metric("abs_rel", rel / Double(max(n, 1)), higherIsBetter: false),
                Metric("rmse", TaskMath.meanSquare(prediction, t).squareRoot(), higherIsBetter: false)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a depth target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        // one range for target and prediction: the target sample's when there is one
        var range = Draw.sample(m, index)
        if case .values(let r)? = reference, r.shape == m.shape { range = Draw.sample(r, index) }
        let vals = range.array.filter(\.isFinite)
        return Draw.colormap(Draw.sample(m, index), lo: vals.min() ?? 0, hi: vals.max() ?? 1)
    }
}

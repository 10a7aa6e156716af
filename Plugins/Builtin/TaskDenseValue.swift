// A generic dense regression (a folder's `name:dense` column): C channels, L1; MAE and RMSE; drawn with a colour map or as RGB.
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class DenseValueTask: BuiltinTask {
    public init(name: String, channels: Int, summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: \(channels)-channel map (L1; MAE, RMSE)", kind: .dense, channels: channels,
                   metrics: [MetricInfo("mae", higherIsBetter: false), MetricInfo("rmse", higherIsBetter: false)])
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        return [Metric("mae", TaskMath.meanAbs(prediction, t), higherIsBetter: false),
                Metric("rmse", TaskMath.meanSquare(prediction, t).squareRoot(), higherIsBetter: false)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a dense target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        if channels == 3 { return Draw.rgb(Draw.sample(m, index)) }
        var range = Draw.sample(m, index)
        if case .values(let r)? = reference, r.shape == m.shape { range = Draw.sample(r, index) }
        let vals = range.array.filter(\.isFinite)
        return Draw.colormap(Draw.sample(m, index), lo: vals.min() ?? 0, hi: vals.max() ?? 1)
    }
}

// Reshading: shading without albedo, one channel in [0, 1], L1; mean absolute error; drawn grey.
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class ReshadingTask: BuiltinTask {
    public init(name: String = "reshade", summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: shading without albedo, 1 channel (L1; MAE)", kind: .dense, channels: 1,
                   metrics: [MetricInfo("mae", higherIsBetter: false)])
    }

    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        _ = try checkDense(prediction)
        return try prediction.l1Loss(values(target, like: prediction))
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        return [Metric("mae", TaskMath.meanAbs(prediction, try values(target, like: prediction)), higherIsBetter: false)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a reshading target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        return Draw.grey(Draw.sample(m, index))
    }
}

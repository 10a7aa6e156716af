// One-channel maps in [0, 1] with L1 and mean absolute error: 2-D keypoint heatmaps
// (drawn with a colour map) and reshading, shading without albedo (drawn grey).
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class UnitMapTask: BuiltinTask {
    public enum Style: Sendable { case colormap, grey }
    let style: Style

    public init(name: String, summary: String, style: Style) {
        self.style = style
        super.init(name: name, summary: summary, kind: .dense, channels: 1, metrics: [MetricInfo("mae", higherIsBetter: false)])
    }

    /// The scenes' keypoint heatmap.
    public static func keypoints(name: String = "keypoints") -> UnitMapTask {
        UnitMapTask(name: name, summary: "dense: 2-D keypoint heatmap, 1 channel (L1; MAE)", style: .colormap)
    }

    /// The scenes' reshading: shading without albedo.
    public static func reshading(name: String = "reshade") -> UnitMapTask {
        UnitMapTask(name: name, summary: "dense: shading without albedo, 1 channel (L1; MAE)", style: .grey)
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        return [Metric("mae", TaskMath.meanAbs(prediction, try values(target, like: prediction)), higherIsBetter: false)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a \(name) target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        switch style {
        case .colormap: return Draw.colormap(Draw.sample(m, index), lo: 0, hi: 1)
        case .grey: return Draw.grey(Draw.sample(m, index))
        }
    }
}

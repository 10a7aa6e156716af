// Surface normals: three channels, 1 − cos per pixel; mean angular error and share within 11.25°; drawn as RGB.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class NormalsTask: BuiltinTask {
    public init(name: String = "normal", summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: surface normals, 3 channels (1 − cos; mean angle, within 11.25°)", kind: .dense, channels: 3,
                   metrics: [MetricInfo("mean_angle", higherIsBetter: false), MetricInfo("within_11.25", higherIsBetter: true)])
    }

    /// mean over pixels of 1 − cos(pred, target). [B, 3, H, W] -> [1]
    public override var standardLoss: TaskLoss? { .cosine }
    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        return try TaskMath.pixelRows(prediction).cosineLoss(TaskMath.pixelRows(t.detached()))
    }

    /// mean_angle in degrees; within_11.25 as a fraction of pixels.
    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        let (b, c, h, w) = try checkDense(prediction)
        let t = try values(target, like: prediction)
        let hw = h * w
        var angle = 0.0, within = 0
        for i in 0..<b { for k in 0..<hw {
            var dot = 0.0, na = 0.0, nb = 0.0
            for ch in 0..<c {
                let x = Double(prediction.data[(i * c + ch) * hw + k]), y = Double(t.data[(i * c + ch) * hw + k])
                dot += x * y; na += x * x; nb += y * y
            }
            let cos = max(-1, min(1, dot / max((na * nb).squareRoot(), 1e-12)))
            let deg = Foundation.acos(cos) * 180 / Double.pi
            angle += deg
            if deg < 11.25 { within += 1 }
        } }
        let n = Double(max(b * hw, 1))
        return [Metric("mean_angle", angle / n, higherIsBetter: false), Metric("within_11.25", Double(within) / n, higherIsBetter: true)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a normals target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        return Draw.normals(Draw.sample(m, index))
    }
}

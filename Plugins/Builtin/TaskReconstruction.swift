// Reconstruction / denoising (and albedo): an image in [0, 1], L1; mean absolute error and PSNR; drawn as the image.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class ReconstructionTask: BuiltinTask {
    public init(name: String = "reconstruct", channels: Int = 1, summary: String? = nil) {
        super.init(name: name, summary: summary ?? "dense: clean image, \(channels) channel\(channels == 1 ? "" : "s") (L1; MAE, PSNR)",
                   kind: .dense, channels: channels,
                   metrics: [MetricInfo("mae", higherIsBetter: false), MetricInfo("psnr", higherIsBetter: true)])
    }

    /// psnr = 10·log10(1 / MSE) in dB for values in [0, 1] (capped at 100 dB for a perfect match).
    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkDense(prediction)
        let t = try values(target, like: prediction)
        let mse = TaskMath.meanSquare(prediction, t)
        return [Metric("mae", TaskMath.meanAbs(prediction, t), higherIsBetter: false),
                Metric("psnr", mse <= 1e-10 ? 100 : 10 * Foundation.log10(1 / mse), higherIsBetter: true)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a reconstruction target must be a value tensor") }
        let (b, _, _, _) = try checkDense(m)
        try checkIndex(index, b)
        return Draw.rgb(Draw.sample(m, index))
    }
}

// Regression of global values (object count, a folder's `name:value`): MSE; MAE and RMSE; drawn as bars.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class RegressionTask: BuiltinTask {
    public init(name: String, outputs: Int = 1, summary: String? = nil) {
        super.init(name: name, summary: summary ?? "global: \(outputs) value\(outputs == 1 ? "" : "s") (MSE; MAE, RMSE)", kind: .global, channels: outputs,
                   metrics: [MetricInfo("mae", higherIsBetter: false), MetricInfo("rmse", higherIsBetter: false)])
    }

    /// pred [B, C], target [B, C] -> [1]
    public override var standardLoss: TaskLoss? { .mse }
    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        _ = try checkGlobal(prediction)
        return try prediction.mseLoss(values(target, like: prediction))
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        _ = try checkGlobal(prediction)
        let t = try values(target, like: prediction)
        return [Metric("mae", TaskMath.meanAbs(prediction, t), higherIsBetter: false),
                Metric("rmse", TaskMath.meanSquare(prediction, t).squareRoot(), higherIsBetter: false)]
    }

    func row(_ t: Tensor, _ i: Int) -> [Float] { (0..<channels).map { t.data[i * channels + $0] } }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        guard let m = prediction ?? { if case .values(let t)? = target { return t }; return nil }() else { throw bad("a regression target must be a value tensor") }
        try checkIndex(index, try checkGlobal(m))
        // bars scaled by the largest magnitude of target and prediction, so the two panels compare
        var scale = row(m, index).map { Swift.abs($0) }.max() ?? 1
        if case .values(let r)? = reference, r.shape == m.shape { scale = max(scale, row(r, index).map { Swift.abs($0) }.max() ?? 0) }
        return Draw.bars(row(m, index).map { $0 / max(scale, 1e-6) }, marked: nil)
    }

    override func caption(prediction: Tensor?, target: TaskTarget?, index: Int) -> String {
        func fmt(_ v: [Float]) -> String { v.map { String(format: "%.3g", $0) }.joined(separator: ", ") }
        var parts: [String] = []
        if case .values(let t)? = target, t.ndim == 2, index < t.shape[0], t.shape[1] == channels { parts.append("target \(fmt(row(t, index)))") }
        if let p = prediction, p.ndim == 2, index < p.shape[0], p.shape[1] == channels { parts.append("predicted \(fmt(row(p, index)))") }
        return "\(name): " + parts.joined(separator: " | ")
    }
}

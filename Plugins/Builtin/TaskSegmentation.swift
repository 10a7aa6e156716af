// Semantic segmentation: per-pixel classes, cross-entropy (−1 ignored); mIoU and pixel accuracy; drawn in a palette.
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class SegmentationTask: BuiltinTask {
    public let classNames: [String]

    public init(name: String = "segment", classes: Int, classNames: [String] = [], summary: String? = nil) {
        self.classNames = classNames
        super.init(name: name, summary: summary ?? "dense: per-pixel class of \(classes) (cross-entropy; mIoU, pixel accuracy)",
                   kind: .dense, channels: classes,
                   metrics: [MetricInfo("miou", higherIsBetter: true), MetricInfo("pixel_acc", higherIsBetter: true)])
    }

    /// pred [B, C, H, W], labels [B·H·W] -> [1]
    public override var standardLoss: TaskLoss? { .crossEntropy }
    public override func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        let (b, _, h, w) = try checkDense(prediction)
        let y = try labels(target, count: b * h * w)
        return try TaskMath.pixelRows(prediction).crossEntropy(y, ignoreIndex: -1)
    }

    public override func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        let (b, _, h, w) = try checkDense(prediction)
        let y = try labels(target, count: b * h * w)
        let (miou, acc) = TaskMath.segmentation(prediction, y)
        return [Metric("miou", miou, higherIsBetter: true), Metric("pixel_acc", acc, higherIsBetter: true)]
    }

    override func draw(prediction: Tensor?, target: TaskTarget?, index: Int, reference: TaskTarget?, shape: Tensor?) throws -> Tensor {
        if let p = prediction {
            let (b, c, h, w) = try checkDense(p)
            try checkIndex(index, b)
            let hw = h * w
            let arg = (0..<hw).map { TaskMath.argmax(p.data + index * c * hw + $0, c, stride: hw) }
            return Draw.classes(arg[...], h: h, w: w)
        }
        guard case .labels(let y)? = target else { throw bad("a segmentation target must be class labels") }
        let (slice, h, w) = try labelMap(y, index: index, shape: shape)
        return Draw.classes(slice, h: h, w: w)
    }
}

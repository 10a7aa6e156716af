// The example outside plugin: a self-supervised dense task "colorize" whose target is each pixel's
// chroma (RGB minus its grey level), an aux loss, a sampling gating strategy, and the entry points.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI

public final class ColorizeTask: TaskPlugin {
    public let name = "colorize"
    public let summary = "predict each pixel's chroma (RGB minus grey), derived from the image itself"
    public let kind = TaskKind.dense
    public let channels = 3
    public let metricInfo = [MetricInfo("mae", higherIsBetter: false)]
    public init() {}

    public func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor {
        guard case .values(let t) = target else { throw PluginError.failed(plugin: name, message: "needs a value target") }
        return try prediction.l1Loss(t)
    }

    public func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        guard case .values(let t) = target, t.shape == prediction.shape else { throw PluginError.failed(plugin: name, message: "target shape") }
        var s = 0.0
        for i in 0..<t.count { s += Double(abs(prediction.data[i] - t.data[i])) }
        return [Metric("mae", s / Double(max(t.count, 1)), higherIsBetter: false)]
    }

    /// chroma[c] = image[c] − mean over channels, per pixel. images [B, 3, H, W] -> [B, 3, H, W]
    public func derivedTarget(images: Tensor, targets: [String: TaskTarget]) throws -> TaskTarget? {
        guard images.ndim == 4, images.shape[1] == 3 else { throw PluginError.failed(plugin: name, message: "needs RGB images, got \(images.shape)") }
        let b = images.shape[0], hw = images.shape[2] * images.shape[3]
        let out = Tensor(uninitialized: images.shape)
        for i in 0..<b { for p in 0..<hw {
            let base = i * 3 * hw + p
            let grey = (images.data[base] + images.data[base + hw] + images.data[base + 2 * hw]) / 3
            for c in 0..<3 { out.data[base + c * hw] = images.data[base + c * hw] - grey }
        } }
        return .values(out)
    }

    /// Chroma shown around mid-grey, [3, H, W] in [0, 1].
    public func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture {
        var src: Tensor? = prediction
        if src == nil, case .values(let t)? = target { src = t }
        guard let x = src, x.ndim == 4, index < x.shape[0] else { throw PluginError.failed(plugin: name, message: "nothing to draw at index \(index)") }
        let hw = x.shape[2] * x.shape[3]
        let rgb = Tensor(uninitialized: [3, x.shape[2], x.shape[3]])
        for j in 0..<(3 * hw) { rgb.data[j] = min(1, max(0, 0.5 + x.data[index * 3 * hw + j])) }
        return Picture(rgb: rgb, caption: "chroma")
    }
}

/// An aux loss registered through PluginRegistry.shared (not the pointer the host
/// passes): it shows up in the host only if the singleton is truly shared.
public final class ColorfulnessLoss: AuxLossPlugin {
    public let name = "colorfulness"
    public let summary = "example: mean squared router logit (keeps logits small)"
    public let defaultWeight: Float = 0.001
    public init() {}
    public func loss(_ record: RouterRecord) throws -> Tensor { record.logits.square().mean() }
}

/// A gating strategy: in training, sample k experts per token without replacement from the router's softmax
/// (Gumbel-top-k) instead of always taking the top k, so less-used experts keep receiving tokens; in evaluation,
/// the plain top-k. Shapes: `input.probs` and `input.logits` are [R, E] (R token rows of the fused batch, each
/// task's rows contiguous in `input.segments`); return k expert indices per row (row-major, −1 for an empty
/// slot) and the gates [R·k]. The gates must come from `input.probs` through tensor ops (here a gather), or
/// the routers get no gradient.
public final class SampledTopKGating: GatingPlugin {
    public let name = "sample_topk"
    public let summary = "example: k experts sampled from the router's softmax in training (Gumbel-top-k), top-k in evaluation"
    public init() {}
    public func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        let probs = input.probs, r = probs.shape[0], e = probs.shape[1], k = input.topK
        var choices = [Int](repeating: 0, count: r * k)
        for row in 0..<r {
            // key = log p + Gumbel noise in training; the k largest keys are a sample without replacement
            let keys = (0..<e).map { j -> (Float, Int) in
                let lp = Foundation.log(max(probs.data[row * e + j], 1e-12))
                guard input.training else { return (lp, j) }
                let u = max(rng.uniform(), 1e-12)
                return (lp - Foundation.log(-Foundation.log(u)), j)
            }
            for (slot, pick) in keys.sorted { $0.0 > $1.0 }.prefix(k).enumerated() { choices[row * k + slot] = pick.1 }
        }
        let flat = choices.enumerated().map { ($0.offset / k) * e + $0.element }
        return GateDecision(choices: choices, gates: try probs.reshaped([r * e]).gatherRows(flat))
    }
}

@_cdecl("modsquad_plugin_abi")
public func modsquadPluginABI() -> Int32 { pluginABIIdentity }

@_cdecl("modsquad_plugin_register")
public func modsquadPluginRegister(_ registry: UnsafeMutableRawPointer?, _ hostABI: Int32) -> UnsafeMutablePointer<CChar>? {
    pluginEntry(registry, hostABI) { r in
        try r.register(task: ColorizeTask())
        try PluginRegistry.shared.register(auxLoss: ColorfulnessLoss())
        try r.register(gating: SampledTopKGating())
    }
}

// The configuration of a squad model: image and width, and per block whether the
// attention is dense or MoA and the MLP dense or MoE (with experts, top-k, width).
// Layouts: "alternate" (the authors'), "both" (the reference's), "dense" (a ViT).
import Foundation
import SquadNN

public enum AttentionSpec: Codable, Equatable, Sendable {
    case dense
    case moa(experts: Int, topK: Int)
}

public enum MLPSpec: Codable, Equatable, Sendable {
    case dense
    case moe(experts: Int, topK: Int)
}

public struct BlockSpec: Codable, Equatable, Sendable {
    public var attention: AttentionSpec
    public var mlp: MLPSpec
    /// Expert width of this block (nil: the config's): MoE-MLP hidden, MoA head width.
    public var mlpHidden: Int? = nil
    public var attentionHeadDim: Int? = nil
    /// After extraction: the router's full width and the experts kept from it.
    public var attentionRouter: ExtractedRouter? = nil
    public var mlpRouter: ExtractedRouter? = nil
    public init(attention: AttentionSpec, mlp: MLPSpec) { self.attention = attention; self.mlp = mlp }
}

public struct ExtractedRouter: Codable, Equatable, Sendable {
    public var width: Int
    public var kept: [Int]
}

public struct SquadConfig: Codable, Equatable, Sendable {
    public var image = 32, patch = 4, channels = 3
    public var dim = 192, depth = 6
    /// Dense attention: heads × headDim (the authors' dense attention uses head_dim 128).
    public var heads = 6, attentionHeadDim = 32
    /// Dense MLP hidden = dim · mlpRatio.
    public var mlpRatio = 4
    /// MoA experts: heads per expert and head width; expert q/o biases (reference yes, authors no).
    public var moaHeadsPerExpert = 1, moaHeadDim = 32, moaExpertBias = false
    /// MoE-MLP expert hidden width.
    public var moeHidden = 384
    public var blocks: [BlockSpec] = []
    public var gate = GateOptions(topK: 2)
    /// A learned per-task embedding added to every token before every block.
    public var taskEmbedding = true
    public var clsToken = false
    public var tasks: [TaskSpec] = []
    public var seed: UInt64 = 0
    /// Initialisation recipe: nil (msq's: PyTorch's Linear defaults, task embeddings trunc_normal(0.02) like the
    /// positions) or "authors" (timm's trunc_normal(0.02) Linear layers, their randn task embeddings N(0, 1)).
    public var recipe: String? = nil

    public static let recipes = ["msq", "authors"]
    public var isAuthorsRecipe: Bool { recipe == "authors" }
    /// Std of a new task embedding. At 1 (the authors') it is ~8x the size of msq's patch tokens and
    /// drowns the image in every LayerNorm: single-task Fashion-MNIST squad 0.35 test top-1 vs 0.77 at 0.02.
    public var taskEmbeddingStd: Float { isAuthorsRecipe ? 1 : 0.02 }

    public init() {}

    /// Builds the per-block layout from a name: "alternate" (MoA + dense MLP, then dense
    /// attention + MoE-MLP), "both" (MoA and MoE-MLP in every block) or "dense".
    public static func layout(_ name: String, depth: Int, attentionExperts: Int, attentionTopK: Int,
                              mlpExperts: Int, mlpTopK: Int) throws -> [BlockSpec] {
        let moa = AttentionSpec.moa(experts: attentionExperts, topK: attentionTopK)
        let moe = MLPSpec.moe(experts: mlpExperts, topK: mlpTopK)
        switch name {
        case "alternate", "twice":
            return (0..<depth).map { $0 % 2 == 0 ? BlockSpec(attention: moa, mlp: .dense) : BlockSpec(attention: .dense, mlp: moe) }
        case "both": return Array(repeating: BlockSpec(attention: moa, mlp: moe), count: depth)
        case "dense": return Array(repeating: BlockSpec(attention: .dense, mlp: .dense), count: depth)
        case "mlp": return (0..<depth).map { $0 % 2 == 1 ? BlockSpec(attention: .dense, mlp: moe) : BlockSpec(attention: .dense, mlp: .dense) }
        default: throw ModuleError.invalidConfig("unknown layout '\(name)' (alternate, both, dense, mlp)")
        }
    }

    public var hasExperts: Bool {
        blocks.contains { if case .moa = $0.attention { return true }; if case .moe = $0.mlp { return true }; return false }
    }

    /// The MoE sublayers in model order: "blocks.i.attn" / "blocks.i.mlp" with their experts and top-k.
    public var moeLayers: [(name: String, experts: Int, topK: Int)] {
        var out: [(name: String, experts: Int, topK: Int)] = []
        for (i, b) in blocks.enumerated() {
            if case let .moa(e, k) = b.attention { out.append(("blocks.\(i).attn", e, k)) }
            if case let .moe(e, k) = b.mlp { out.append(("blocks.\(i).mlp", e, k)) }
        }
        return out
    }

    /// Whether one backbone pass serves every task (no routers, no task embedding: hard sharing).
    public var sharedBackbone: Bool { !hasExperts && !taskEmbedding }

    /// Parameters the config implies (weights only), estimated from the layout.
    public var estimatedParameters: Double {
        let d = Double(dim), t = Double(max(tasks.count, 1))
        var n = Double(channels * patch * patch) * d + Double((image / patch) * (image / patch) + 1) * d
        for b in blocks {
            switch b.attention {
            case .dense: n += d * 4 * Double(heads * attentionHeadDim)
            case let .moa(e, _): n += Double(e) * 2 * d * Double(moaHeadsPerExpert * (b.attentionHeadDim ?? moaHeadDim)) + d * 2 * Double(moaHeadsPerExpert * moaHeadDim) + t * d * Double(e)
            }
            switch b.mlp {
            case .dense: n += 2 * d * d * Double(mlpRatio)
            case let .moe(e, _): n += Double(e) * 2 * d * Double(b.mlpHidden ?? moeHidden) + t * d * Double(e)
            }
        }
        return n
    }

    public func validate() throws {
        // Weights, gradients and two AdamW moments: refuse what cannot fit rather than fail mid-allocation.
        let bytes = estimatedParameters * 16
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < physical * 0.8 else {
            throw ModuleError.invalidConfig(String(format: "about %.3g parameters need %.1f GiB for weights, gradients and optimizer state; this machine has %.1f GiB", estimatedParameters, bytes / 1073741824, physical / 1073741824))
        }
        guard dim > 0, depth == blocks.count, depth > 0 else { throw ModuleError.invalidConfig("depth \(depth) with \(blocks.count) block specs") }
        guard image > 0, patch > 0, image % patch == 0 else { throw ModuleError.invalidConfig("image \(image) is not a multiple of patch \(patch)") }
        guard heads > 0, attentionHeadDim > 0, moaHeadDim > 0, moaHeadsPerExpert > 0, moeHidden > 0 else { throw ModuleError.invalidConfig("head and hidden sizes must be positive") }
        for (i, b) in blocks.enumerated() {
            if let h = b.mlpHidden, h <= 0 { throw ModuleError.invalidConfig("blocks.\(i).mlp: expert width \(h) must be positive") }
            if let h = b.attentionHeadDim, h <= 0 { throw ModuleError.invalidConfig("blocks.\(i).attn: expert head width \(h) must be positive") }
            if case let .moa(e, k) = b.attention, !(e >= 1 && k >= 1 && k <= e) { throw ModuleError.invalidConfig("blocks.\(i).attn: top-k \(k) must be in 1...\(e) experts") }
            if case let .moe(e, k) = b.mlp, !(e >= 1 && k >= 1 && k <= e) { throw ModuleError.invalidConfig("blocks.\(i).mlp: top-k \(k) must be in 1...\(e) experts") }
        }
        var seen = Set<String>()
        for t in tasks {
            guard !t.name.isEmpty, !t.name.contains("."), !t.name.contains("/") else { throw ModuleError.invalidConfig("task name '\(t.name)' must be non-empty without '.' or '/'") }
            guard seen.insert(t.name).inserted else { throw TaskError.duplicateTask(t.name) }
            guard t.channels > 0 else { throw ModuleError.invalidConfig("task '\(t.name)': channels must be positive") }
        }
    }
}

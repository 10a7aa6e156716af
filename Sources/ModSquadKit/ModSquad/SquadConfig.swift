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

    /// Parameters the config implies (weights only, task heads included), estimated from the layout.
    /// Meaningful only for a config whose ranges `checkRanges` accepted.
    public var estimatedParameters: Double {
        let d = Double(dim), t = Double(max(tasks.count, 1)), p = Double(max(patch, 1))
        let grid = Double(image / max(patch, 1))
        var n = Double(channels) * p * p * d + (grid * grid + 1) * d
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
        for task in tasks {   // heads: a global head maps dim to channels; a dense one dim to patch²·channels (or a decoder)
            let c = Double(task.channels)
            if task.kind == .global { n += (d + 1) * c + 2 * d }
            else if let w = task.decoder { n += d * Double(w) * 16 + Double(w) * Double(w) * 9 + Double(w) * c }
            else { n += (d + 1) * p * p * c }
            n += d   // the task embedding
        }
        return n
    }

    /// The documented range of every number of a config, by the name `squad()`/`vit()` give it.
    public static let ranges: [(name: String, range: ClosedRange<Int>)] = [
        ("image", 1...4096), ("patch", 1...4096), ("channels", 1...64), ("dim", 1...16384), ("depth", 1...512),
        ("heads", 1...1024), ("head_dim", 1...4096), ("mlp_ratio", 1...64), ("expert_hidden", 1...262_144),
        ("experts", 1...1024), ("top_k", 1...1024), ("task channels", 1...100_000), ("decoder", 1...4096),
    ]
    /// Router noise std and capacity factor: finite, within these.
    public static let noiseRange: ClosedRange<Float> = 0...100, capacityRange: ClosedRange<Float> = 0...1024

    /// Checks every number against `ranges` before anything is estimated or allocated: a stored config that
    /// lies (patch 0, channels −3) must fail here, not divide by zero or overflow in a layer's init.
    public func checkRanges() throws {
        func check(_ name: String, _ v: Int, _ what: String? = nil) throws {
            let r = SquadConfig.ranges.first { $0.name == name }!.range
            guard r.contains(v) else {
                throw ModuleError.invalidParameter(name: what ?? name, message: "must be in \(r.lowerBound)...\(r.upperBound), got \(v)")
            }
        }
        try check("image", image); try check("patch", patch); try check("channels", channels)
        try check("dim", dim); try check("depth", depth)
        try check("heads", heads); try check("head_dim", attentionHeadDim); try check("head_dim", moaHeadDim)
        try check("mlp_ratio", mlpRatio); try check("expert_hidden", moeHidden)
        guard moaHeadsPerExpert >= 1 && moaHeadsPerExpert <= 64 else {
            throw ModuleError.invalidParameter(name: "moaHeadsPerExpert", message: "must be in 1...64, got \(moaHeadsPerExpert)")
        }
        guard image % patch == 0 else { throw ModuleError.invalidParameter(name: "patch", message: "image \(image) is not a multiple of patch \(patch)") }
        guard depth == blocks.count else { throw ModuleError.invalidParameter(name: "depth", message: "is \(depth) but the layout has \(blocks.count) blocks") }
        guard gate.noiseStd.isFinite, SquadConfig.noiseRange.contains(gate.noiseStd) else {
            throw ModuleError.invalidParameter(name: "noise", message: "must be a finite std in 0...100, got \(gate.noiseStd)")
        }
        guard gate.capacityFactor.isFinite, SquadConfig.capacityRange.contains(gate.capacityFactor) else {
            throw ModuleError.invalidParameter(name: "capacity", message: "must be 0 (dropless) or a positive factor up to 1024, got \(gate.capacityFactor)")
        }
        try check("top_k", gate.topK)
        for (i, b) in blocks.enumerated() {
            if let h = b.mlpHidden { try check("expert_hidden", h, "blocks.\(i).mlp width") }
            if let h = b.attentionHeadDim { try check("head_dim", h, "blocks.\(i).attn head_dim") }
            if case let .moa(e, k) = b.attention {
                try check("experts", e, "blocks.\(i).attn experts")
                guard k >= 1 && k <= e else { throw ModuleError.invalidParameter(name: "blocks.\(i).attn top_k", message: "must be in 1...\(e) (its experts), got \(k)") }
                if let r = b.attentionRouter { try r.check(experts: e, at: "blocks.\(i).attn") }
            }
            if case let .moe(e, k) = b.mlp {
                try check("experts", e, "blocks.\(i).mlp experts")
                guard k >= 1 && k <= e else { throw ModuleError.invalidParameter(name: "blocks.\(i).mlp top_k", message: "must be in 1...\(e) (its experts), got \(k)") }
                if let r = b.mlpRouter { try r.check(experts: e, at: "blocks.\(i).mlp") }
            }
        }
        var seen = Set<String>()
        for t in tasks {
            guard !t.name.isEmpty, !t.name.contains("."), !t.name.contains("/") else { throw ModuleError.invalidConfig("task name '\(t.name)' must be non-empty without '.' or '/'") }
            guard seen.insert(t.name).inserted else { throw TaskError.duplicateTask(t.name) }
            try check("task channels", t.channels, "task '\(t.name)' channels")
            if let w = t.decoder { try check("decoder", w, "task '\(t.name)' decoder") }
            guard t.weight.isFinite, t.weight >= 0 else { throw ModuleError.invalidParameter(name: "task '\(t.name)' weight", message: "must be finite and ≥ 0, got \(t.weight)") }
        }
    }

    public func validate() throws {
        try checkRanges()
        // Weights, gradients and two AdamW moments: refuse what cannot fit rather than fail mid-allocation.
        let bytes = estimatedParameters * 16
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < physical * 0.8 else {
            throw ModuleError.invalidConfig(String(format: "about %.3g parameters (task heads included) need %.1f GiB for weights, gradients and optimizer state; this machine has %.1f GiB", estimatedParameters, bytes / 1073741824, physical / 1073741824))
        }
    }
}

extension ExtractedRouter {
    /// A router kept after extraction: `kept` names `experts` distinct experts of a router `width` wide.
    func check(experts: Int, at layer: String) throws {
        guard width >= 1, width <= 1024, kept.count == experts, Set(kept).count == kept.count, kept.allSatisfy({ (0..<width).contains($0) }) else {
            throw ModuleError.invalidParameter(name: layer + " router", message: "keeps experts \(kept) of a router \(width) wide, but the layer has \(experts)")
        }
    }
}

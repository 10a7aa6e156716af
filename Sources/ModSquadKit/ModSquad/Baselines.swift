// The paper's comparators as squad configurations, in the same code and checkpoint
// format: single-task ViTs (STL), hard parameter sharing (MTL) and an M3ViT-like
// MoE with one task-conditioned shared router (trained without the MI loss).
import SquadNN

public enum Baseline: String, CaseIterable, Sendable {
    case stl, mtl, m3vit, modsquad

    public var summary: String {
        switch self {
        case .stl: return "one dense ViT per task"
        case .mtl: return "one dense ViT shared by all tasks, one head each (hard sharing)"
        case .m3vit: return "MoE-MLP in odd blocks, one shared router conditioned by the task embedding, no MI loss"
        case .modsquad: return "MoA + MoE-MLP, a router per task, MI loss"
        }
    }

    /// Whether the trainer should add the MI loss.
    public var usesMILoss: Bool { self == .modsquad }
}

extension SquadConfig {
    /// The same width, depth and tasks as `self`, rebuilt as `baseline`. For STL, one config per task.
    public func baseline(_ b: Baseline) throws -> [SquadConfig] {
        var c = self
        let moa = blocks.lazy.compactMap { if case let .moa(e, k) = $0.attention { return (e, k) }; return nil }.first ?? (8, 2)
        let moe = blocks.lazy.compactMap { if case let .moe(e, k) = $0.mlp { return (e, k) }; return nil }.first ?? moa
        switch b {
        case .modsquad:
            return [self]
        case .mtl, .stl:
            c.blocks = try SquadConfig.layout("dense", depth: depth, attentionExperts: 1, attentionTopK: 1, mlpExperts: 1, mlpTopK: 1)
            c.taskEmbedding = false
            if b == .mtl { return [c] }
            return tasks.map { t in var s = c; s.tasks = [t]; return s }
        case .m3vit:
            c.blocks = try SquadConfig.layout("mlp", depth: depth, attentionExperts: moa.0, attentionTopK: moa.1, mlpExperts: moe.0, mlpTopK: moe.1)
            c.gate.mode = .shared
            c.taskEmbedding = true
            return [c]
        }
    }
}

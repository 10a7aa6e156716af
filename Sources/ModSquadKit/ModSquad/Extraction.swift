// Expert extraction and router-only transfer. Extraction keeps, per MoE layer, the
// experts a task uses (usage% > thresh/k, at least k by usage) and builds a
// standalone single-task model with those experts, the task's router columns,
// head and embedding. Transfer attaches a new task and trains only its routers,
// embedding and head, with every expert and shared weight frozen.
import SquadTensor
import SquadNN

public struct ExtractionReport: CustomStringConvertible {
    public let task: String
    public let keptPerLayer: [(layer: String, kept: [Int], of: Int)]
    public let parametersBefore: Int, parametersAfter: Int
    public var description: String {
        let layers = keptPerLayer.map { "\($0.layer) \($0.kept.count)/\($0.of)" }.joined(separator: ", ")
        return "extract '\(task)': \(parametersBefore) → \(parametersAfter) parameters (\(String(format: "%.1f", 100 * Double(parametersAfter) / Double(max(parametersBefore, 1))))%); kept \(layers)"
    }
}

extension SquadModel {
    /// Experts to keep for `task` in the MoE layer `layer` with `k` = top-k.
    public func keptExperts(task: String, layer: String, experts: Int, topK k: Int, threshold: Double) -> [Int] {
        guard let u = usage.percentages(layer: layer, task: task) else { return Array(0..<experts) }
        var kept = (0..<experts).filter { u[$0] > threshold / Double(k) }
        if kept.count < k {
            kept = Array((0..<experts).sorted { u[$0] != u[$1] ? u[$0] > u[$1] : $0 < $1 }.prefix(k)).sorted()
        }
        return kept
    }

    /// A standalone model for `task` with only the experts it uses (spec §4).
    public func extract(task: String, threshold: Double = 3) throws -> (SquadModel, ExtractionReport) {
        let spec = try self.spec(task)
        var cfg = config
        cfg.tasks = [spec]
        var report: [(String, [Int], Int)] = []
        var newBlocks: [SquadBlock] = []
        for (i, blk) in blocks.items.enumerated() {
            var bs = cfg.blocks[i]
            var moa: MoAttention? = nil, moe: MoEMLP? = nil
            if let m = blk.moa {
                let name = "blocks.\(i).attn"
                let kept = keptExperts(task: task, layer: name, experts: m.experts, topK: m.router.options.topK, threshold: threshold)
                moa = try m.extracted(task: task, kept: kept)
                bs.attention = .moa(experts: kept.count, topK: m.router.options.topK)
                bs.attentionRouter = ExtractedRouter(width: m.router.experts, kept: moa!.router.kept ?? kept)
                report.append((name, kept, m.experts))
            }
            if let m = blk.moe {
                let name = "blocks.\(i).mlp"
                let kept = keptExperts(task: task, layer: name, experts: m.experts, topK: m.router.options.topK, threshold: threshold)
                moe = try m.extracted(task: task, kept: kept)
                bs.mlp = .moe(experts: kept.count, topK: m.router.options.topK)
                bs.mlpRouter = ExtractedRouter(width: m.router.experts, kept: moe!.router.kept ?? kept)
                report.append((name, kept, m.experts))
            }
            cfg.blocks[i] = bs
            newBlocks.append(SquadBlock(norm1: blk.norm1, norm2: blk.norm2, attn: blk.attn, moa: moa, mlp: blk.mlp, moe: moe))
        }
        var rng = RNG(seed: cfg.seed)
        let emb = TaskEmbeddings(dim: cfg.dim, tasks: cfg.taskEmbedding ? [task] : [], std: cfg.taskEmbeddingStd, rng: &rng)
        if let v = taskEmbed.vectors[task], let dst = emb.vectors[task] { try dst.assign(v) }
        let small = SquadModel(config: cfg, patchEmbed: patchEmbed, pos: pos, cls: cls, taskEmbed: emb,
                               blocks: newBlocks, norm: norm, heads: [task: heads[task]!])
        // Shared modules were reused by reference: give the extracted model its own copies.
        let copied = small.stateDict().mapValues { $0.copy() }
        let standalone = try SquadModel(cfg)
        try standalone.load(copied)
        for l in usage.layers { if let f = usage.ema[l]?[task] {
            let kept = report.first { $0.0 == l }?.1 ?? Array(0..<f.count)
            standalone.usage.set(layer: l, task: task, ema: kept.map { f[$0] })
        } }
        return (standalone, ExtractionReport(task: task, keptPerLayer: report.map { (layer: $0.0, kept: $0.1, of: $0.2) },
                                             parametersBefore: parameterCount, parametersAfter: standalone.parameterCount))
    }

    /// Attaches `spec` and freezes everything but its routers, embedding and head (router-only transfer).
    public func attachForTransfer(_ spec: TaskSpec) throws {
        try attach(spec)
        freeze()
        let t = spec.name
        for p in parameters() {
            let own = p.name.hasPrefix("heads.\(t).") || p.name == "task_embed.\(t)" || p.name.hasSuffix(".router.\(t).weight")
            if own { p.tensor.requiresGrad = true }
        }
    }
}

// The squad backbone: patch + position embedding, optional cls token, a learned
// task embedding added before every block, pre-norm blocks whose attention and MLP
// are each dense or mixtures of experts, a final norm and one head per task.
// All tasks run as one fused batch of T·B images with per-task routers.
import SquadTensor
import SquadNN

public final class SquadBlock: Module {
    public let norm1: LayerNorm, norm2: LayerNorm
    public let attn: MultiHeadAttention?, moa: MoAttention?
    public let mlp: MLP?, moe: MoEMLP?

    init(_ spec: BlockSpec, config c: SquadConfig, tasks: [String], rng: inout RNG) {
        norm1 = LayerNorm(c.dim); norm2 = LayerNorm(c.dim)
        switch spec.attention {
        case .dense:
            attn = MultiHeadAttention(c.dim, heads: c.heads, headDim: c.attentionHeadDim, rng: &rng); moa = nil
        case let .moa(e, k):
            var g = c.gate; g.topK = k
            moa = MoAttention(dim: c.dim, experts: e, headsPerExpert: c.moaHeadsPerExpert, headDim: spec.attentionHeadDim ?? c.moaHeadDim,
                              expertBias: c.moaExpertBias, tasks: tasks, gate: g, routerWidth: spec.attentionRouter?.width,
                              kept: spec.attentionRouter?.kept, rng: &rng)
            attn = nil
        }
        switch spec.mlp {
        case .dense: mlp = MLP(c.dim, hidden: c.dim * c.mlpRatio, rng: &rng); moe = nil
        case let .moe(e, k):
            var g = c.gate; g.topK = k
            moe = MoEMLP(dim: c.dim, hidden: spec.mlpHidden ?? c.moeHidden, experts: e, tasks: tasks, gate: g, routerWidth: spec.mlpRouter?.width,
                         kept: spec.mlpRouter?.kept, rng: &rng); mlp = nil
        }
    }

    init(norm1: LayerNorm, norm2: LayerNorm, attn: MultiHeadAttention?, moa: MoAttention?, mlp: MLP?, moe: MoEMLP?) {
        self.norm1 = norm1; self.norm2 = norm2; self.attn = attn; self.moa = moa; self.mlp = mlp; self.moe = moe
    }

    public override var children: [(String, Module)] {
        [("norm1", norm1), ("attn", (attn as Module?) ?? moa!), ("norm2", norm2), ("mlp", (mlp as Module?) ?? moe!)]
    }

    var routers: [Router] { [moa?.router, moe?.router].compactMap { $0 } }

    /// x [G, N, D] -> [G, N, D]; appends the routing records of its MoE sublayers.
    func callAsFunction(_ x: Tensor, segments: [TaskSegment], name: String, records: inout [RouterRecord], rng: inout RNG) throws -> Tensor {
        let g = x.shape[0], n = x.shape[1], d = x.shape[2]
        var h: Tensor
        if let a = attn { h = try x.add(a(norm1(x))) } else {
            let (y, rec) = try moa!(norm1(x), segments: segments, layer: name + ".attn", rng: &rng)
            records.append(rec)
            h = try x.add(y)
        }
        if let m = mlp { return try h.add(m(norm2(h))) }
        let (y, rec) = try moe!(norm2(h).reshaped([g * n, d]), segments: segments, layer: name + ".mlp", rng: &rng)
        records.append(rec)
        return try h.add(y.reshaped([g, n, d]))
    }
}

/// Per-task learned vectors [D], named task_embed.<task>: trunc_normal(std) like the position embedding
/// (msq's default, std 0.02), or N(0, 1) as the authors' randn (std 1, `recipe: "authors"`).
public final class TaskEmbeddings: Module {
    public private(set) var order: [String] = []
    public private(set) var vectors: [String: Tensor] = [:]
    let dim: Int
    let std: Float
    init(dim: Int, tasks: [String], std: Float, rng: inout RNG) {
        self.dim = dim; self.std = std
        super.init()
        for t in tasks { add(t, rng: &rng) }
    }
    func add(_ t: String, rng: inout RNG) {
        guard vectors[t] == nil else { return }
        order.append(t); vectors[t] = Tensor.normal([dim], std: std, rng: &rng, requiresGrad: true)   // = trunc_normal(std) for std ≤ 0.02
    }
    func remove(_ t: String) { order.removeAll { $0 == t }; vectors[t] = nil }
    public override var localParameters: [(String, Tensor)] { order.map { ($0, vectors[$0]!) } }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { true }   // the authors decay it
}

public struct SquadOutput {
    /// Prediction per task: [B, C, H, W] (dense) or [B, C] (global).
    public var predictions: [String: Tensor]
    /// One record per MoE sublayer, in model order.
    public var records: [RouterRecord]
}

public final class SquadModel: Module {
    public private(set) var config: SquadConfig
    public let patchEmbed: PatchEmbedding
    public let pos: PositionEmbedding
    public let cls: Tensor?
    public let taskEmbed: TaskEmbeddings
    public let blocks: ModuleList<SquadBlock>
    public let norm: LayerNorm
    public private(set) var heads: [String: TaskHead] = [:]
    /// Noise and new parameters draw from here.
    public var rng: RNG
    public let usage = UsageStats()

    public var tasks: [String] { config.tasks.map(\.name) }
    public var grid: Int { config.image / config.patch }

    public init(_ config: SquadConfig) throws {
        try config.validate()
        self.config = config
        var rng = RNG(seed: config.seed)
        let c = config, names = config.tasks.map(\.name)
        patchEmbed = try PatchEmbedding(image: c.image, patch: c.patch, channels: c.channels, dim: c.dim, rng: &rng)
        pos = PositionEmbedding(patchEmbed.patches + (c.clsToken ? 1 : 0), c.dim, rng: &rng)
        cls = c.clsToken ? Tensor(zeros: [1, c.dim], requiresGrad: true) : nil
        taskEmbed = TaskEmbeddings(dim: c.dim, tasks: c.taskEmbedding ? names : [], std: c.taskEmbeddingStd, rng: &rng)
        blocks = ModuleList(c.blocks.map { SquadBlock($0, config: c, tasks: names, rng: &rng) })
        norm = LayerNorm(c.dim)
        let g = c.image / c.patch
        for t in c.tasks { heads[t.name] = TaskHead(t, dim: c.dim, patch: c.patch, grid: g, rng: &rng) }
        self.rng = rng
        super.init()
        if c.isAuthorsRecipe { SquadModel.timmInit(self, rng: &self.rng) }
        nameParameters()
    }

    /// The authors' recipe, timm's init_weights: every Linear under `m` trunc_normal(0.02) with zero bias,
    /// except the patch embedding (a Conv2d there, left at PyTorch's default).
    static func timmInit(_ m: Module, rng: inout RNG) {
        for (path, sub) in m.descendants() where !path.hasPrefix("patch_embed") { (sub as? Linear)?.resetTruncNormal(rng: &rng) }
    }

    /// For extraction: a model from parts.
    init(config: SquadConfig, patchEmbed: PatchEmbedding, pos: PositionEmbedding, cls: Tensor?, taskEmbed: TaskEmbeddings,
         blocks: [SquadBlock], norm: LayerNorm, heads: [String: TaskHead]) {
        self.config = config; self.patchEmbed = patchEmbed; self.pos = pos; self.cls = cls; self.taskEmbed = taskEmbed
        self.blocks = ModuleList(blocks); self.norm = norm; self.heads = heads
        self.rng = RNG(seed: config.seed)
        super.init()
        nameParameters()
    }

    public override var localParameters: [(String, Tensor)] { cls.map { [("cls_token", $0)] } ?? [] }
    public override var children: [(String, Module)] {
        var c: [(String, Module)] = [("patch_embed", patchEmbed), ("pos_embed", pos)]
        if !taskEmbed.order.isEmpty { c.append(("task_embed", taskEmbed)) }
        c += [("blocks", blocks), ("norm", norm)]
        for t in tasks { c.append(("heads." + t, heads[t]!)) }
        return c
    }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { false }

    public var routers: [Router] { blocks.items.flatMap(\.routers) }

    public func spec(_ task: String) throws -> TaskSpec {
        guard let s = config.tasks.first(where: { $0.name == task }) else { throw TaskError.unknownTask(task, known: tasks) }
        return s
    }

    /// Adds a task: its head, embedding and a router in every MoE layer (new parameters are trainable).
    public func attach(_ spec: TaskSpec) throws {
        guard heads[spec.name] == nil else { throw TaskError.duplicateTask(spec.name) }
        var next = config; next.tasks.append(spec)
        try next.validate()
        config = next
        let head = TaskHead(spec, dim: config.dim, patch: config.patch, grid: grid, rng: &rng)
        if config.isAuthorsRecipe { SquadModel.timmInit(head, rng: &rng) }
        heads[spec.name] = head
        if config.taskEmbedding { taskEmbed.add(spec.name, rng: &rng) }
        for r in routers { r.addTask(spec.name, rng: &rng) }
        nameParameters()
    }

    /// Removes a task with its head, embedding, routers and usage statistics.
    public func detach(_ name: String) throws {
        guard heads[name] != nil else { throw TaskError.unknownTask(name, known: tasks) }
        config.tasks.removeAll { $0.name == name }
        heads[name] = nil
        taskEmbed.remove(name)
        for r in routers { r.removeTask(name) }
        usage.removeTask(name)
    }

    /// Patch tokens (+ cls) with positions: images [B, C, H, W] -> [B, N, D]
    func embed(_ images: Tensor) throws -> Tensor {
        guard images.ndim == 4, images.shape[1] == config.channels, images.shape[2] == config.image, images.shape[3] == config.image else {
            throw TensorError.shapeMismatch(op: "squad", shapes: [images.shape], expected: "images [B, \(config.channels), \(config.image), \(config.image)]")
        }
        var x = try patchEmbed(images)
        if let c = cls {
            let b = images.shape[0]
            let cs = try c.gatherRows([Int](repeating: 0, count: b)).reshaped([b, 1, config.dim])
            x = try Tensor.concat([cs, x], axis: 1)
        }
        return try pos(x)
    }

    /// Runs the backbone for `tasks` on the same images (fused: T·B rows) and each task's head.
    public func callAsFunction(_ images: Tensor, tasks requested: [String]? = nil) throws -> SquadOutput {
        let ts = requested ?? tasks
        for t in ts where heads[t] == nil { throw TaskError.unknownTask(t, known: tasks) }
        let x0 = try embed(images)
        let b = x0.shape[0], n = x0.shape[1], d = config.dim
        let passes = config.sharedBackbone ? 1 : ts.count
        var x = x0
        if passes > 1 {
            let idx = (0..<passes).flatMap { _ in 0..<b }
            x = try x0.reshaped([b, n * d]).gatherRows(idx).reshaped([passes * b, n, d])
        }
        let segments = config.sharedBackbone ? [TaskSegment(task: ts.first ?? "", start: 0, count: b * n)]
            : ts.enumerated().map { TaskSegment(task: $0.element, start: $0.offset * b * n, count: b * n) }
        var emb: Tensor? = nil
        if config.taskEmbedding && !config.sharedBackbone {
            let stacked = try Tensor.concat(ts.map { try taskEmbed.vectors[$0]!.reshaped([1, d]) }, axis: 0)
            let rowTask = (0..<passes).flatMap { t in [Int](repeating: t, count: b * n) }
            emb = try stacked.gatherRows(rowTask).reshaped([passes * b, n, d])
        }
        var records: [RouterRecord] = []
        for (i, blk) in blocks.items.enumerated() {
            if let e = emb { x = try x.add(e) }
            x = try blk(x, segments: segments, name: "blocks.\(i)", records: &records, rng: &rng)
        }
        x = try norm(x)
        var feats = passes > 1 ? try x.split([Int](repeating: b, count: passes), axis: 0) : [x]
        if config.clsToken { feats = try feats.map { try $0.split([1, n - 1], axis: 1)[1] } }
        var preds: [String: Tensor] = [:]
        for (i, t) in ts.enumerated() { preds[t] = try heads[t]!(feats[passes > 1 ? i : 0]) }
        return SquadOutput(predictions: preds, records: records)
    }
}

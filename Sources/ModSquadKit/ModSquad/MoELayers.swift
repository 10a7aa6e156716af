// The two mixture-of-experts sublayers: MoE-MLP (expert e = D→H→D, GELU, biases)
// and MoA attention (expert e owns W_q^e and W_o^e; keys/values are one shared
// projection). Both dispatch sparsely: gather by expert, one GEMM per expert,
// scale by gate, scatter-add back.
import SquadTensor
import SquadNN

/// Expert weights [E, in, out] drawn U(−1/in, 1/in) as the authors' ParallelExperts.
func expertWeight(_ e: Int, _ fin: Int, _ fout: Int, rng: inout RNG) -> Tensor {
    Tensor.uniform([e, fin, fout], -1 / Float(fin), 1 / Float(fin), rng: &rng, requiresGrad: true)
}

public final class MoEMLP: Module {
    public let dim: Int, hidden: Int, experts: Int
    public var w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor   // [E,D,H] [E,H] [E,H,D] [E,D]
    public var router: Router

    /// `experts` expert MLPs; the router has `routerWidth` columns (more after extraction) and `kept` maps them.
    public init(dim: Int, hidden: Int, experts: Int, tasks: [String], gate: GateOptions, routerWidth: Int? = nil, kept: [Int]? = nil, rng: inout RNG) {
        self.dim = dim; self.hidden = hidden; self.experts = experts
        w1 = expertWeight(experts, dim, hidden, rng: &rng)
        b1 = Tensor.uniform([experts, hidden], -1 / Float(dim).squareRoot(), 1 / Float(dim).squareRoot(), rng: &rng, requiresGrad: true)
        w2 = expertWeight(experts, hidden, dim, rng: &rng)
        b2 = Tensor.uniform([experts, dim], -1 / Float(hidden).squareRoot(), 1 / Float(hidden).squareRoot(), rng: &rng, requiresGrad: true)
        router = Router(dim: dim, experts: routerWidth ?? experts, tasks: tasks, options: gate, kept: kept, rng: &rng)
    }

    public override var localParameters: [(String, Tensor)] {
        [("experts.w1", w1), ("experts.b1", b1), ("experts.w2", w2), ("experts.b2", b2)]
    }
    public override var children: [(String, Module)] { [("router", router)] }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { n.hasSuffix("w1") || n.hasSuffix("w2") }

    /// x [R, D] in task segments -> [R, D], and the routing record.
    public func callAsFunction(_ x: Tensor, segments: [TaskSegment], layer: String, rng: inout RNG) throws -> (Tensor, RouterRecord) {
        let (rec, gates) = try router.route(x, segments: segments, layer: layer, rng: &rng)
        let k = router.options.topK
        let cap = Dispatch.capacity(factor: router.options.capacityFactor, pairs: rec.choices.count, experts: experts)
        let d = Dispatch(choices: rec.choices, topK: k, experts: experts, capacity: cap)
        // Dispatched rows and GELU(h) are built inside the GEMMs, not stored (backward rebuilds them).
        let h = try x.groupedLinear(w1, b1, sizes: d.sizes, rows: d.token)
        let y = try h.groupedLinear(w2, b2, sizes: d.sizes, geluInput: true).combineRows(scales: gates.gatherRows(d.order), index: d.token, rows: x.shape[0])
        return (y, rec.withDropped(d.dropped))
    }

    /// The same layer with only `kept` experts (indices into this layer's experts) for `task`.
    public func extracted(task: String, kept: [Int]) throws -> MoEMLP {
        var rng = RNG(seed: 0)
        let m = MoEMLP(dim: dim, hidden: hidden, experts: kept.count, tasks: [task], gate: router.options, rng: &rng)
        try copyExperts(kept, from: [w1, b1, w2, b2], to: [m.w1, m.b1, m.w2, m.b2])
        m.router = try router.restricted(to: task, kept: kept)
        return m
    }
}

/// Copies the slices [e] of each source into consecutive slices of each destination.
func copyExperts(_ kept: [Int], from src: [Tensor], to dst: [Tensor]) throws {
    for (s, d) in zip(src, dst) {
        let per = s.count / s.shape[0]
        guard d.count == kept.count * per else { throw ModuleError.shapeMismatch(path: "experts", expected: [kept.count] + Array(s.shape.dropFirst()), found: d.shape) }
        for (j, e) in kept.enumerated() { (d.data + j * per).update(from: s.data + e * per, count: per) }
    }
}

public final class MoAttention: Module {
    public let dim: Int, experts: Int, headsPerExpert: Int, headDim: Int
    public var wq: Tensor, wo: Tensor             // [E, D, F], [E, F, D]
    public var bq: Tensor?, bo: Tensor?           // [E, F], [E, D] when expertBias
    public let kv: Linear                         // D -> 2F, shared by all experts
    public var router: Router
    public var inner: Int { headsPerExpert * headDim }

    /// The authors: one head per expert (d = 128), no expert bias. The reference: 6 heads of 32, with bias.
    public init(dim: Int, experts: Int, headsPerExpert: Int, headDim: Int, expertBias: Bool, tasks: [String],
                gate: GateOptions, routerWidth: Int? = nil, kept: [Int]? = nil, rng: inout RNG) {
        self.dim = dim; self.experts = experts; self.headsPerExpert = headsPerExpert; self.headDim = headDim
        let f = headsPerExpert * headDim
        wq = expertWeight(experts, dim, f, rng: &rng)
        wo = expertWeight(experts, f, dim, rng: &rng)
        bq = expertBias ? Tensor(zeros: [experts, f], requiresGrad: true) : nil
        bo = expertBias ? Tensor(zeros: [experts, dim], requiresGrad: true) : nil
        kv = Linear(dim, 2 * f, rng: &rng)
        router = Router(dim: dim, experts: routerWidth ?? experts, tasks: tasks, options: gate, kept: kept, rng: &rng)
    }

    public override var localParameters: [(String, Tensor)] {
        var p: [(String, Tensor)] = [("experts.wq", wq)]
        if let b = bq { p.append(("experts.bq", b)) }
        p.append(("experts.wo", wo))
        if let b = bo { p.append(("experts.bo", b)) }
        return p
    }
    public override var children: [(String, Module)] { [("kv", kv), ("router", router)] }
    public override func decays(_ n: String, _ t: Tensor) -> Bool { n.hasSuffix("wq") || n.hasSuffix("wo") }

    /// x [G, N, D] (G images, task-major) in task segments of rows -> [G, N, D], and the routing record.
    public func callAsFunction(_ x: Tensor, segments: [TaskSegment], layer: String, rng: inout RNG) throws -> (Tensor, RouterRecord) {
        let g = x.shape[0], n = x.shape[1], h = headsPerExpert, dh = headDim, f = inner
        let rows = g * n
        let xf = try x.reshaped([rows, dim])
        let (rec, gates) = try router.route(xf, segments: segments, layer: layer, rng: &rng)
        let k = router.options.topK
        let cap = Dispatch.capacity(factor: router.options.capacityFactor, pairs: rec.choices.count, experts: experts)
        let d = Dispatch(choices: rec.choices, topK: k, experts: experts, capacity: cap)
        // shared keys and values, heads side by side: [G, N, 2·f] (keys, then values)
        let kvOut = try kv(xf).reshaped([g, n, 2 * f])
        // expert queries, back in (token, slot) order: [G, N·k, f]; dropped pairs get zero queries
        let qs = try xf.groupedLinear(wq, bq, sizes: d.sizes, rows: d.token)
        let q = try qs.scatterAddRows(d.order, rows: rows * k).reshaped([g, n * k, f])
        let o = try Tensor.headAttention(q: q, k: kvOut, v: kvOut, vOffset: f, heads: h, headDim: dh).reshaped([rows * k, f])
        let y = try o.groupedLinear(wo, bo, sizes: d.sizes, rows: d.order)
            .combineRows(scales: gates.gatherRows(d.order), index: d.token, rows: rows).reshaped([g, n, dim])
        return (y, rec.withDropped(d.dropped))
    }

    public func extracted(task: String, kept: [Int]) throws -> MoAttention {
        var rng = RNG(seed: 0)
        let m = MoAttention(dim: dim, experts: kept.count, headsPerExpert: headsPerExpert, headDim: headDim,
                            expertBias: bq != nil, tasks: [task], gate: router.options, rng: &rng)
        try copyExperts(kept, from: [wq, wo] + [bq, bo].compactMap { $0 }, to: [m.wq, m.wo] + [m.bq, m.bo].compactMap { $0 })
        try m.kv.load(kv.stateDict())
        m.router = try router.restricted(to: task, kept: kept)
        return m
    }
}

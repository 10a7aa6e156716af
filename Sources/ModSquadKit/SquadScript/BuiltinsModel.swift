// Model builtins: squad (per-block layouts), vit, block, baseline, attach, detach, extract, save, load.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI

let layoutNames = ["alternate", "both", "dense", "mlp"]

func modelBuiltins() -> [Builtin] {
    let tasksParam = ParamSpec("tasks", .oneOf([.object("dataset"), .strings]), Value.none, "a dataset (all its tasks) or a list of task names")
    let decoderParam = ParamSpec("decoder", .int, Value.none, "dense tasks get an upsampling decoder head of this hidden width (default: per-patch linear heads)")
    let imageParams = [ParamSpec("image", .int, Value.none, "image size (default: the dataset's, else 32)"),
                       ParamSpec("channels", .int, Value.none, "image channels (default: the dataset's, else 3)", range: ValueRange(1, 64))]
    return [
        Builtin("squad", [
            tasksParam,
            ParamSpec("dim", .int, .number(192), "token width"),
            ParamSpec("depth", .int, .number(6), "blocks (with a layout name)"),
            ParamSpec("patch", .int, .number(4), "patch size"),
            ParamSpec("layout", .oneOf([.choice(layoutNames), .list]), .string("alternate"),
                      "\"alternate\" (MoA, then MoE), \"both\", \"mlp\" (MoE only), \"dense\", or a list of blocks: \"moa\", \"moe\", \"both\", \"dense\" or block(...)"),
            ParamSpec("experts", .int, Value.none, "experts in every MoE layer (sets attn_experts and mlp_experts)"),
            ParamSpec("attn_experts", .int, .number(12), "MoA experts per layer"),
            ParamSpec("mlp_experts", .int, .number(12), "MoE-MLP experts per layer"),
            ParamSpec("top_k", .int, .number(2), "experts each token uses"),
            ParamSpec("attn_top_k", .int, Value.none, "top-k of MoA layers (default top_k)"),
            ParamSpec("mlp_top_k", .int, Value.none, "top-k of MoE-MLP layers (default top_k)"),
            ParamSpec("expert_hidden", .int, Value.none, "MoE-MLP expert hidden width (default 2·dim)"),
            ParamSpec("head_dim", .int, .number(32), "width of a MoA expert's head and of dense attention heads"),
            ParamSpec("heads", .int, Value.none, "dense attention heads (default dim / head_dim)"),
            ParamSpec("mlp_ratio", .int, .number(4), "dense MLP hidden = dim · mlp_ratio"),
            decoderParam,
        ] + imageParams + [
            ParamSpec("gate", .string, .string("topk"), "gating strategy: topk or a gating plugin"),
            ParamSpec("router", .choice(["per_task", "shared"]), .string("per_task"), "a router per task (Mod-Squad) or one shared"),
            ParamSpec("noise", .number, .number(0), "router noise std in training"),
            ParamSpec("renormalize", .bool, .bool(false), "renormalise the top-k gates"),
            ParamSpec("capacity", .number, .number(0), "expert capacity factor (0 = dropless)"),
            ParamSpec("task_embedding", .bool, .bool(true), "add a learned task embedding before every block"),
            ParamSpec("cls", .bool, .bool(false), "add a cls token"),
            ParamSpec("recipe", .choice(SquadConfig.recipes), .string("msq"), "initialisation: msq (PyTorch's Linear defaults, task embeddings trunc_normal(0.02) like positions; see README, Defaults) or authors (timm's trunc_normal(0.02) Linear layers and the authors' randn task embeddings)"),
            ParamSpec("seed", .int, .number(0), "initialisation seed"),
        ], doc: "A Mod-Squad model: per block dense or MoA attention and dense or MoE MLP, a router per task.", category: "models") { ctx in
            var c = SquadConfig()
            try baseConfig(&c, ctx)
            let fast = ScriptSettings.fast
            var e1 = try ctx.count("attn_experts", 12), e2 = try ctx.count("mlp_experts", 12)
            if let e = try ctx.int("experts") { guard e >= 1 else { throw ctx.error("experts", "must be at least 1") }; e1 = e; e2 = e }
            let k = try ctx.count("top_k", 2)
            var k1 = try ctx.count("attn_top_k", k), k2 = try ctx.count("mlp_top_k", k)
            if fast { e1 = min(e1, 4); e2 = min(e2, 4); k1 = min(k1, 2); k2 = min(k2, 2) }
            for (n, e, kk) in [("attn_top_k", e1, k1), ("mlp_top_k", e2, k2)] where kk > e {
                throw ctx.error(ctx.given(n) ? n : "top_k", "must be at most the \(e) experts of the layer, got \(kk)")
            }
            switch ctx.value("layout") {
            case .some(.string(let name)):
                c.blocks = try SquadConfig.layout(name, depth: c.depth, attentionExperts: e1, attentionTopK: k1, mlpExperts: e2, mlpTopK: k2)
            case .some(.list(let items)):
                guard !items.isEmpty else { throw ctx.error("layout", "needs at least one block") }
                c.blocks = try items.map { try blockSpec($0, e1, k1, e2, k2, ctx) }
                c.depth = c.blocks.count
            default: break
            }
            if let h = try ctx.int("expert_hidden") { c.moeHidden = fast ? min(h, 64) : h } else { c.moeHidden = 2 * c.dim }
            c.gate = GateOptions(topK: k, renormalize: try ctx.bool("renormalize", false), noiseStd: Float(try ctx.number("noise", 0)),
                                 capacityFactor: Float(try ctx.number("capacity", 0)),
                                 mode: try ctx.string("router", "per_task") == "shared" ? .shared : .perTask,
                                 strategy: try ctx.string("gate", "topk"))
            if c.gate.strategy != "topk" { _ = try ctx.interpreter.table.registry.gating(c.gate.strategy) }
            c.taskEmbedding = try ctx.bool("task_embedding", true)
            c.clsToken = try ctx.bool("cls", false)
            return .object(ModelValue(try buildModel(c, ctx), label: "squad"))
        },
        Builtin("vit", [
            tasksParam,
            ParamSpec("dim", .int, .number(192), "token width"),
            ParamSpec("depth", .int, .number(6), "blocks"),
            ParamSpec("patch", .int, .number(4), "patch size"),
            ParamSpec("head_dim", .int, .number(32), "attention head width"),
            ParamSpec("heads", .int, Value.none, "attention heads (default dim / head_dim)"),
            ParamSpec("mlp_ratio", .int, .number(4), "MLP hidden = dim · mlp_ratio"),
            decoderParam,
        ] + imageParams + [
            ParamSpec("recipe", .choice(SquadConfig.recipes), .string("msq"), "initialisation: msq (PyTorch's Linear defaults, task embeddings trunc_normal(0.02) like positions; see README, Defaults) or authors (timm's trunc_normal(0.02) Linear layers and the authors' randn task embeddings)"),
            ParamSpec("seed", .int, .number(0), "initialisation seed"),
        ], doc: "A dense ViT with one head per task on a shared backbone (hard parameter sharing).", category: "models") { ctx in
            var c = SquadConfig()
            try baseConfig(&c, ctx)
            c.blocks = try SquadConfig.layout("dense", depth: c.depth, attentionExperts: 1, attentionTopK: 1, mlpExperts: 1, mlpTopK: 1)
            c.taskEmbedding = false
            let m = ModelValue(try buildModel(c, ctx), label: "vit")
            m.usesMI = false
            return .object(m)
        },
        Builtin("block", [
            ParamSpec("attn", .choice(["dense", "moa"]), .string("dense"), "dense or mixture-of-attention-heads"),
            ParamSpec("mlp", .choice(["dense", "moe"]), .string("dense"), "dense or mixture-of-experts MLP"),
            ParamSpec("experts", .int, .number(12), "experts of each MoE sublayer"),
            ParamSpec("top_k", .int, .number(2), "experts each token uses"),
            ParamSpec("attn_experts", .int, Value.none, "MoA experts (default experts)"),
            ParamSpec("mlp_experts", .int, Value.none, "MoE-MLP experts (default experts)"),
            ParamSpec("width", .int, Value.none, "hidden width of each MoE-MLP expert in this block (default the squad's)"),
            ParamSpec("head_dim", .int, Value.none, "head width of each MoA expert in this block (default the squad's)"),
        ], doc: "One block of a squad layout, for squad(layout: [...]).", category: "models") { ctx in
            let e = try ctx.count("experts", 12), k = try ctx.count("top_k", 2)
            var ea = try ctx.count("attn_experts", e), em = try ctx.count("mlp_experts", e)
            var kk = k
            if ScriptSettings.fast { ea = min(ea, 4); em = min(em, 4); kk = min(kk, 2) }
            let attn: AttentionSpec = try ctx.string("attn", "dense") == "moa" ? .moa(experts: ea, topK: kk) : .dense
            let mlp: MLPSpec = try ctx.string("mlp", "dense") == "moe" ? .moe(experts: em, topK: kk) : .dense
            if case .moa = attn, kk > ea { throw ctx.error("top_k", "must be at most the \(ea) attention experts") }
            if case .moe = mlp, kk > em { throw ctx.error("top_k", "must be at most the \(em) MLP experts") }
            var spec = BlockSpec(attention: attn, mlp: mlp)
            if ctx.has("width") { spec.mlpHidden = try ctx.count("width", 0) }
            if ctx.has("head_dim") { spec.attentionHeadDim = try ctx.count("head_dim", 0) }
            return .object(BlockValue(spec))
        },
        Builtin("baseline", [
            ParamSpec("model", .object("model"), nil, "the squad whose size and tasks to copy"),
            ParamSpec("kind", .choice(["stl", "mtl", "m3vit", "modsquad"]), nil,
                      "stl (a ViT per task), mtl (hard sharing), m3vit (shared router, no MI), modsquad (a fresh copy)"),
        ], doc: "The paper's comparators at the same size: a list of single-task ViTs (stl) or one model.", category: "models") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let kind = try ctx.string("kind", "mtl")
            guard let b = Baseline(rawValue: kind) else { throw ctx.error("kind", "is not a baseline") }
            let models = try m.model.config.baseline(b).map { cfg -> Value in
                let v = ModelValue(try SquadModel(cfg), label: b == .stl ? "stl \(cfg.tasks.first?.name ?? "")" : kind)
                v.usesMI = b.usesMILoss
                v.auxWeights = m.auxWeights
                return .object(v)
            }
            return b == .stl ? .list(models) : models[0]
        },
        Builtin("attach", [
            ParamSpec("model", .object("model"), nil, "the model to grow"),
            ParamSpec("task", .string, nil, "a task plugin's name (or a new name with head, channels and loss)"),
            ParamSpec("weight", .number, .number(1), "loss weight (fixed weighting; any weight ≠ 1 switches train to it)"),
            ParamSpec("head", .choice(["linear", "decoder"]), .string("linear"), "dense head: per-patch linear (the authors') or a small upsampling decoder"),
            ParamSpec("decoder_width", .int, .number(32), "hidden width of the decoder head"),
            ParamSpec("kind", .choice(["dense", "global"]), Value.none, "dense map or global vector (tasks without a plugin; a plugin decides its own)"),
            ParamSpec("channels", .int, Value.none, "output channels (tasks without a plugin)"),
            ParamSpec("loss", .choice(["l1", "mse", "ce", "cosine"]), Value.none, "loss kind (tasks without a plugin)"),
            ParamSpec("transfer", .bool, .bool(false), "freeze everything but the new task's routers, embedding and head"),
        ], doc: "Adds a task: its head, task embedding and a router in every MoE layer.", category: "models") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let name = try ctx.string("task") ?? ""
            let spec = try taskSpec(name, ctx)
            let before = m.model.parameterCount
            if try ctx.bool("transfer", false) { try m.model.attachForTransfer(spec); m.onlyTasks = [spec.name] }
            else { try m.model.attach(spec); m.onlyTasks = nil }
            try rebind(m, ctx.interpreter.table.registry)
            let trainable = m.model.trainableParameters().reduce(0) { $0 + $1.tensor.count }
            ctx.output.write("attached '\(spec.name)' (\(spec.kind.rawValue), \(spec.channels) channel\(spec.channels == 1 ? "" : "s")) to \(m.label): +\(formatCount(m.model.parameterCount - before)) params, \(formatCount(trainable)) trainable\n")
            return .none
        },
        Builtin("detach", [
            ParamSpec("model", .object("model"), nil, "the model"),
            ParamSpec("task", .string, nil, "the task to remove"),
        ], doc: "Removes a task with its head, embedding, routers and usage statistics.", category: "models") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let name = try ctx.string("task") ?? ""
            guard m.model.tasks.contains(name) else {
                throw ctx.error("task", "names no task of the model: '\(name)'\(didYouMean(name, in: m.model.tasks))", hint: "tasks: \(m.model.tasks.joined(separator: ", "))")
            }
            try m.model.detach(name)
            try rebind(m, ctx.interpreter.table.registry)
            ctx.output.write("detached '\(name)' from \(m.label); tasks now \(m.model.tasks.joined(separator: ", "))\n")
            return .none
        },
        Builtin("freeze", [
            ParamSpec("model", .object("model"), nil, "the model"),
            ParamSpec("prefix", .string, .string(""), "only parameters whose dotted name starts with this (\"\" = all; e.g. \"blocks.0.\")"),
        ], doc: "Stops training some parameters (all, or those under a dotted prefix).", category: "models") { ctx in
            try setTrainable(ctx, false)
        },
        Builtin("unfreeze", [
            ParamSpec("model", .object("model"), nil, "the model"),
            ParamSpec("prefix", .string, .string(""), "only parameters whose dotted name starts with this (\"\" = all)"),
        ], doc: "Makes parameters trainable again (e.g. after a router-only transfer).", category: "models") { ctx in
            try setTrainable(ctx, true)
        },
        Builtin("extract", [
            ParamSpec("model", .object("model"), nil, "a trained squad"),
            ParamSpec("task", .string, nil, "the task to extract"),
            ParamSpec("threshold", .number, .number(3), "keep expert e when usage% > threshold / top-k"),
        ], doc: "A standalone single-task model with only the experts the task uses (and its router, head, embedding).", category: "models") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let task = try ctx.string("task") ?? ""
            guard m.model.tasks.contains(task) else {
                throw ctx.error("task", "names no task of the model: '\(task)'\(didYouMean(task, in: m.model.tasks))", hint: "tasks: \(m.model.tasks.joined(separator: ", "))")
            }
            if m.model.usage.layers.isEmpty && m.model.config.hasExperts {
                ctx.output.write("note: no usage statistics yet (train first); every expert is kept\n")
            }
            let threshold = try ctx.number("threshold", 3)
            guard threshold >= 0, threshold <= 100 else { throw ctx.error("threshold", "must be a usage percentage within 0...100, got \(formatNumber(threshold))") }
            let (small, report) = try m.model.extract(task: task, threshold: threshold)
            ctx.output.write(report.description + "\n")
            let v = ModelValue(small, label: "extracted \(task)")
            v.usesMI = m.usesMI
            return .object(v)
        },
        Builtin("save", [
            ParamSpec("model", .object("model"), nil, "the model"),
            ParamSpec("path", .string, nil, "a .safetensors file"),
        ], doc: "Saves weights, config, usage statistics and optimizer state to safetensors.", category: "models") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let url = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Checkpoint.save(m.model, trainer: m.trainer, metadata: m.scriptMetadata, to: url)
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            ctx.output.write(String(format: "saved %@ (%.2f MB, step %d)\n", url.lastPathComponent, Double(size) / 1e6, m.steps))
            return .none
        },
        Builtin("load", [ParamSpec("path", .string, nil, "a checkpoint written by save")],
                doc: "Loads a model saved by save (training continues from its step and optimizer state).", category: "models") { ctx in
            let url = ctx.interpreter.resolve(try ctx.string("path") ?? "")
            guard FileManager.default.fileExists(atPath: url.path) else { throw ctx.error("path", "names no file: \(url.path)") }
            let (model, step, extra) = try Checkpoint.load(url)
            // A task recorded with a plugin needs it now, not at the first step ("unknown task" then).
            let registry = ctx.interpreter.table.registry
            for spec in model.config.tasks {
                if let p = spec.plugin, !registry.taskNames.contains(p) {
                    throw ScriptError(.value, "load: task '\(spec.name)' of \(url.lastPathComponent) needs the task plugin '\(p)', which is not loaded",
                                      hint: "load the plugin that provides '\(p)' first: load_plugin(\"path/to/lib….so\") or msq --plugin PATH")
                }
            }
            let v = ModelValue(model, label: model.config.hasExperts ? "squad" : "vit")
            v.pendingRestore = (extra, step)
            v.restoreScriptMetadata(try Checkpoint.metadata(url))
            return .object(v)
        },
    ]
}

/// Tasks, image size, width, depth and heads shared by squad and vit.
func baseConfig(_ c: inout SquadConfig, _ ctx: CallContext) throws {
    var dataset: DatasetValue? = nil
    var names: [String] = []
    switch ctx.value("tasks") {
    case .some(.object(let d as DatasetValue)): dataset = d; names = d.dataset.taskNames
    case .some: names = try ctx.strings("tasks") ?? []
    case nil: break
    }
    if case .some(.list(let l)) = ctx.value("tasks"), l.isEmpty {
        throw ctx.error("tasks", "is an empty list: name at least one task (or leave tasks out and attach them later)")
    }
    c.tasks = try names.map { try taskSpec($0, ctx, param: "tasks") }
    c.image = try ctx.int("image") ?? dataset?.dataset.imageSize ?? 32
    c.channels = try ctx.int("channels") ?? dataset?.dataset.channels ?? 3
    c.dim = try ctx.count("dim", 192)
    c.depth = try ctx.count("depth", 6)
    c.patch = try ctx.count("patch", 4)
    var hd = try ctx.count("head_dim", 32)
    if ScriptSettings.fast { c.dim = min(c.dim, 32); c.depth = min(c.depth, 2); hd = min(hd, 16) }
    c.moaHeadDim = hd
    c.attentionHeadDim = hd
    c.heads = try ctx.int("heads") ?? max(1, c.dim / hd)
    c.mlpRatio = try ctx.count("mlp_ratio", 4)
    c.seed = UInt64(max(0, try ctx.int("seed", 0)))
    if let r = try ctx.string("recipe"), r != "msq" { c.recipe = r }
}

/// The model of a checked config: every number in its documented range (SquadConfig.ranges) before anything
/// is estimated or allocated, the error located at the argument that set it.
func buildModel(_ c: SquadConfig, _ ctx: CallContext) throws -> SquadModel {
    do { try c.validate() }
    catch ModuleError.invalidParameter(let name, let message) {
        var param = name
        if name == "patch" && message.contains("not a multiple") && !ctx.given("patch") && ctx.given("image") { param = "image" }
        if name == "top_k" || name.hasSuffix(" top_k") { param = ctx.given("attn_top_k") ? "attn_top_k" : ctx.given("mlp_top_k") ? "mlp_top_k" : "top_k" }
        if name.hasSuffix(" experts") { param = ctx.given("experts") ? "experts" : ctx.given("attn_experts") ? "attn_experts" : "mlp_experts" }
        if name.hasPrefix("task '") { param = "tasks" }
        if name == "expert_hidden" || name.hasSuffix(" width") { param = "expert_hidden" }
        if ctx.builtin.params.contains(where: { $0.name == param }) {
            // a plain parameter name (patch for image) needs no repeating; a block or task path does
            let plain = !name.contains(" ") && !name.contains(".")
            throw ctx.error(param, plain ? message : "(\(name)) \(message)")
        }
        throw ScriptError(.argument, "\(ctx.builtin.name): \(name) \(message)")
    }
    return try SquadModel(c)
}

/// A task's spec: from its plugin, or from head/channels/loss for a task without one.
func taskSpec(_ name: String, _ ctx: CallContext, param: String = "task") throws -> TaskSpec {
    let reg = ctx.interpreter.table.registry
    let weight = Float(try ctx.number("weight", 1))
    if let p = try? reg.task(name) {
        var s = p.spec(weight: weight)
        if let want = try ctx.string("kind"), want != s.kind.rawValue {
            throw ctx.error("kind", "cannot make '\(name)' \(want): its plugin defines a \(s.kind.rawValue) task")
        }
        s.weight = weight
        try decoderHead(&s, ctx)
        return s
    }
    guard ctx.given("channels"), let ch = try ctx.int("channels"), let lossName = try ctx.string("loss"), let loss = TaskLoss(rawValue: lossName) else {
        throw ctx.error(param, "names no task plugin: '\(name)'\(didYouMean(name, in: reg.taskNames))",
                        hint: "known tasks: \(reg.taskNames.isEmpty ? "none" : reg.taskNames.joined(separator: ", "))" + (param == "task" ? "; or give kind, channels and loss" : ""))
    }
    let kind = TaskKind(rawValue: try ctx.string("kind", "dense")) ?? .dense
    var s = TaskSpec(name, kind: kind, channels: ch, loss: loss, weight: weight)
    try decoderHead(&s, ctx)
    return s
}

/// head: "decoder" (attach) or decoder: width (squad, vit) gives a dense task the upsampling decoder head.
func decoderHead(_ s: inout TaskSpec, _ ctx: CallContext) throws {
    var width: Int? = nil
    if try ctx.string("head") == "decoder" { width = try ctx.count("decoder_width", 32) }
    if ctx.builtin.params.contains(where: { $0.name == "decoder" }) { width = try ctx.int("decoder") ?? width }
    guard let w = width else { return }
    guard w >= 1 else { throw ctx.error("decoder", "must be at least 1") }
    if s.kind == .dense { s.decoder = ScriptSettings.fast ? min(w, 16) : w }
    else if try ctx.string("head") == "decoder" { throw ctx.error("head", "a decoder head is for dense tasks; '\(s.name)' is global") }
}

/// A layout item: "moa", "moe", "both", "dense" or a block(...) value.
func blockSpec(_ v: Value, _ e1: Int, _ k1: Int, _ e2: Int, _ k2: Int, _ ctx: CallContext) throws -> BlockSpec {
    switch v {
    case .object(let b as BlockValue): return b.spec
    case .string(let s):
        let moa = AttentionSpec.moa(experts: e1, topK: k1), moe = MLPSpec.moe(experts: e2, topK: k2)
        switch s.lowercased().replacingOccurrences(of: " ", with: "") {
        case "moa", "moa+dense": return BlockSpec(attention: moa, mlp: .dense)
        case "moe", "dense+moe": return BlockSpec(attention: .dense, mlp: moe)
        case "both", "moa+moe": return BlockSpec(attention: moa, mlp: moe)
        case "dense", "dense+dense": return BlockSpec(attention: .dense, mlp: .dense)
        default: throw ctx.error("layout", "has an unknown block \"\(s)\"\(didYouMean(s, in: ["moa", "moe", "both", "dense"]))", hint: "blocks: \"moa\", \"moe\", \"both\", \"dense\" or block(attn: ..., mlp: ...)")
        }
    default:
        throw ctx.error("layout", "has \(v.typeDescription) where a block belongs (\"moa\", \"moe\", \"both\", \"dense\" or block(...))")
    }
}

/// freeze / unfreeze: sets requiresGrad under a prefix and rebuilds the optimizer.
func setTrainable(_ ctx: CallContext, _ on: Bool) throws -> Value {
    let m = try ctx.require("model", as: ModelValue.self)
    let prefix = try ctx.string("prefix", "")
    let names = m.model.parameters().map(\.name)
    guard prefix.isEmpty || names.contains(where: { $0.hasPrefix(prefix) }) else {
        let tops = Array(Set(names.map { String($0.split(separator: ".").prefix(2).joined(separator: ".")) + "." })).sorted()
        throw ctx.error("prefix", "matches no parameter: \"\(prefix)\"\(didYouMean(prefix, in: tops))", hint: "prefixes: " + tops.prefix(12).joined(separator: " "))
    }
    if on { m.model.unfreeze(prefix); m.onlyTasks = nil } else { m.model.freeze(prefix) }
    m.trainer?.rebuildOptimizer()
    let trainable = m.model.trainableParameters().reduce(0) { $0 + $1.tensor.count }
    ctx.output.write("\(m.label): \(formatCount(trainable)) of \(formatCount(m.model.parameterCount)) params train\n")
    return .none
}

/// After the task set changed: the trainer's parameters and plugin bindings.
func rebind(_ m: ModelValue, _ registry: PluginRegistry) throws {
    guard let t = m.trainer else { return }
    t.rebuildOptimizer()
    try registry.bind(m.model, trainer: t, auxWeights: m.auxWeights)
}

// Study builtins, the paper's tables from trained models: compare (metrics, Δm, parameters, FLOPs, training time,
// mean ± std over seeds), specialisation (H(E|T), H(E), MI per layer), extraction (extracted against full), flops, claim.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadPlot

/// One trained run of a family: a model, or single-task models that together cover the tasks (STL).
struct StudyRun {
    let models: [ModelValue]
    var tasks: [String] { models.flatMap(\.model.tasks) }
    func model(for task: String) -> ModelValue? { models.first { $0.model.tasks.contains(task) } }
}

/// A family of runs (seeds) under one name.
struct StudyGroup {
    let name: String
    let runs: [StudyRun]
}

func studyBuiltins() -> [Builtin] {
    let dataParam = ParamSpec("data", .object("dataset"), nil, "the dataset to evaluate on")
    return [
        Builtin("compare", [
            dataParam,
            ParamSpec("runs", .list, nil, "one entry per family: a model, an STL list, or a list of seeds of either"),
            ParamSpec("names", .strings, Value.none, "a name per family (default: the models' kinds)"),
            ParamSpec("reference", .any, .number(0), "the family Δm is measured against: its index or name (default the first, usually STL)"),
            ParamSpec("split", .choice(["test", "train"]), .string("test"), "which split to evaluate"),
            ParamSpec("limit", .int, Value.none, "evaluate at most this many batches of 64"),
        ], doc: "The paper's comparison table: per-task metrics, Δm over the reference, parameters, FLOPs per task and image, training time; mean ± std over seeds.",
           category: "study") { ctx in
            let data = try ctx.require("data", as: DatasetValue.self)
            let groups = try studyGroups(ctx)
            return .object(try compareTable(ctx, data: data, groups: groups))
        },
        Builtin("specialisation", [
            ParamSpec("models", .oneOf([.object("model"), .list]), nil, "a trained squad or a list of models with MoE layers"),
            ParamSpec("names", .strings, Value.none, "a name per model"),
            ParamSpec("threshold", .number, .number(3), "an expert counts as used by a task when its usage% > threshold / top-k (as extract)"),
        ], doc: "Per MoE layer: H(E|T), H(E) and their difference MI (nats, from usage statistics), and experts used per task; one column group per model.",
           category: "study") { ctx in
            let ms = try plotModels(ctx)
            let names = try ctx.strings("names") ?? displayNames(ms)
            guard names.count == ms.count else { throw ctx.error("names", "has \(names.count) names for \(ms.count) models") }
            return .object(try specialisationTable(ms, names: names, threshold: try ctx.number("threshold", 3), ctx))
        },
        Builtin("groups", [
            ParamSpec("model", .object("model"), nil, "a trained squad (its usage statistics)"),
            ParamSpec("n", .int, Value.none, "exactly this many groups (default: merge while groups are more related than the average pair)"),
            ParamSpec("threshold", .number, Value.none, "merge while the groups' average cosine similarity of expert usage is at least this", range: ValueRange(-1, 1)),
        ], doc: "Which tasks to train together: groups of tasks that share experts (cosine similarity of usage over all MoE layers, average linkage), as a list of task lists.",
           category: "study") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let n = try ctx.int("n")
            if let k = n, k < 1 || k > m.model.tasks.count { throw ctx.error("n", "must be within 1...\(m.model.tasks.count) (the model's tasks), got \(k)") }
            let th = try ctx.number("threshold")
            if let t = th, !(t >= -1 && t <= 1) { throw ctx.error("threshold", "is a cosine similarity within -1...1, got \(formatNumber(t))") }
            let gs = taskGroups(try taskRelations(m.model.usage), count: n, threshold: th)
            ctx.output.write("groups: " + gs.map { "[" + $0.tasks.joined(separator: ", ") + "]" + ($0.tasks.count > 1 ? String(format: " (similarity %.2f)", $0.similarity) : "") }
                .joined(separator: ", ") + "\n")
            return .list(gs.map { .list($0.tasks.map { .string($0) }) })
        },
        Builtin("extraction", [
            ParamSpec("model", .object("model"), nil, "a trained squad"),
            dataParam,
            ParamSpec("tasks", .strings, Value.none, "the tasks to extract (default all)"),
            ParamSpec("threshold", .number, .number(3), "as extract: keep expert e when usage% > threshold / top-k"),
            ParamSpec("batch", .int, .number(64), "images per timed one-task forward"),
            ParamSpec("reps", .int, .number(7), "timed forwards per model (median)"),
            ParamSpec("limit", .int, Value.none, "evaluate at most this many batches"),
        ], doc: "Each task extracted: parameters, one-task inference time and metrics of the extracted model against the full squad.",
           category: "study") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            return .object(try extractionTable(ctx, m, data))
        },
        Builtin("flops", [
            ParamSpec("model", .object("model"), nil, "a model"),
            ParamSpec("task", .string, Value.none, "the task (default: the mean over the model's tasks)"),
        ], doc: "FLOPs of matrix products in one image's forward pass for a task, as routed (top-k experts, capacity) and measured.",
           category: "study") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            if let t = try ctx.string("task") {
                guard m.model.tasks.contains(t) else { throw ctx.error("task", "names no task of the model: '\(t)'\(didYouMean(t, in: m.model.tasks))") }
                return .number(try forwardFLOPs(m, task: t))
            }
            guard !m.model.tasks.isEmpty else { throw ctx.error("model", "has no tasks") }
            return .number(try m.model.tasks.map { try forwardFLOPs(m, task: $0) }.reduce(0, +) / Double(m.model.tasks.count))
        },
        Builtin("claim", [
            ParamSpec("statement", .string, nil, "what the numbers are checked for, in words"),
            ParamSpec("holds", .bool, nil, "the check (e.g. t[\"Mod-Squad\"].delta_m > t[\"MTL\"].delta_m)"),
        ], doc: "Prints a statement as holding or not on these numbers (reports say plainly where a claim fails).", category: "study") { ctx in
            let s = try ctx.string("statement") ?? ""
            let ok = try ctx.bool("holds", false)
            ctx.output.write((ok ? "✔ holds: " : "✘ does not hold: ") + s + "\n")
            return Value.none
        },
    ]
}

// MARK: - compare

/// The `runs` argument as families: a model; a list of models with disjoint tasks (one STL run);
/// a list of models with the same tasks (seeds); or a list of STL lists (seeds of STL).
func studyGroups(_ ctx: CallContext) throws -> [StudyGroup] {
    guard case .list(let entries)? = ctx.value("runs"), !entries.isEmpty else { throw ctx.error("runs", "is empty: give one entry per family") }
    func asModels(_ l: [Value], _ where_: String) throws -> [ModelValue] {
        try l.map { v in
            guard case .object(let m as ModelValue) = v else { throw ctx.error("runs", "\(where_) holds \(v.typeDescription), not a model") }
            return m
        }
    }
    func disjoint(_ ms: [ModelValue]) -> Bool {
        var seen = Set<String>()
        for m in ms { for t in m.model.tasks { if !seen.insert(t).inserted { return false } } }
        return true
    }
    var groups: [[StudyRun]] = []
    for (i, e) in entries.enumerated() {
        switch e {
        case .object(let m as ModelValue): groups.append([StudyRun(models: [m])])
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .list = $0 { return true }; return false }):
            groups.append(try l.enumerated().map { j, v in
                guard case .list(let inner) = v else { return StudyRun(models: []) }
                let ms = try asModels(inner, "entry \(i), seed \(j),")
                guard disjoint(ms) else { throw ctx.error("runs", "entry \(i), seed \(j): its models share tasks (an STL run has one model per task)") }
                return StudyRun(models: ms)
            })
        case .list(let l) where !l.isEmpty:
            let ms = try asModels(l, "entry \(i)")
            if ms.count > 1 && disjoint(ms) { groups.append([StudyRun(models: ms)]) }
            else {
                let tasks = Set(ms[0].model.tasks)
                guard ms.allSatisfy({ Set($0.model.tasks) == tasks }) else {
                    throw ctx.error("runs", "entry \(i) mixes models with different tasks: seeds must have the same tasks, an STL run disjoint ones")
                }
                groups.append(ms.map { StudyRun(models: [$0]) })
            }
        default: throw ctx.error("runs", "entry \(i) is \(e.typeDescription): expected a model or a list of models")
        }
    }
    let names: [String]
    if let given = try ctx.strings("names") {
        guard given.count == groups.count else { throw ctx.error("names", "has \(given.count) names for \(groups.count) families") }
        names = given
    } else {
        names = groups.map { g in g[0].models.count > 1 ? "stl" : g[0].models[0].label }
    }
    guard Set(names).count == names.count else { throw ctx.error("names", "must be distinct (rows are looked up by name)") }
    return zip(names, groups).map { StudyGroup(name: $0, runs: $1) }
}

/// Mean and sample standard deviation.
func meanStd(_ xs: [Double]) -> (mean: Double, std: Double) {
    let m = xs.reduce(0, +) / Double(max(xs.count, 1))
    guard xs.count > 1 else { return (m, 0) }
    let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
    return (m, v.squareRoot())
}

/// A metric with 4 decimals (2 from 10 up, 3 significant digits when tiny or huge).
func metricFormat(_ x: Double) -> String {
    if x != 0 && (abs(x) >= 1000 || abs(x) < 0.001) { return "%.3g" }
    return abs(x) >= 10 ? "%.2f" : "%.4f"
}
func formatMetric(_ x: Double) -> String { String(format: metricFormat(x), x) }

/// "mean ± std" over seeds, the std in the mean's format (without a sign), or the one value; no "-0.00".
func cell(_ xs: [Double], format: String? = nil) -> String {
    let (m, s) = meanStd(xs)
    let f = format ?? metricFormat(m)
    func show(_ v: Double, _ fmt: String) -> String {
        let t = String(format: fmt, v)
        return Double(t) == 0 ? String(format: fmt, 0.0) : t
    }
    guard xs.count > 1 else { return show(m, f) }
    return "\(show(m, f)) ± \(show(s, f.replacingOccurrences(of: "+", with: "")))"
}

/// `body` with the models in eval mode and no gradients recorded; each model's mode is restored after.
func inference<T>(_ models: [SquadModel], _ body: () throws -> T) rethrows -> T {
    let was = models.map(\.training)
    for m in models { m.eval() }
    defer { for (m, w) in zip(models, was) where w { m.train() } }
    return try Autograd.noGrad(body)
}

/// FLOPs of matrix products in a one-image forward for `task` (eval mode, no gradients, a fixed random image).
func forwardFLOPs(_ m: ModelValue, task: String) throws -> Double {
    let c = m.model.config
    var rng = RNG(seed: 7)
    let x = Tensor.normal([1, c.channels, c.image, c.image], rng: &rng)
    return try inference([m.model]) { try FLOPCounter.measure { try m.model(x, tasks: [task]) }.flops }
}

func compareTable(_ ctx: CallContext, data: DatasetValue, groups: [StudyGroup]) throws -> TableValue {
    let registry = ctx.interpreter.table.registry
    let split: DataSplit = try ctx.string("split", "test") == "train" ? .train : .test
    var limit = try ctx.int("limit")
    if ScriptSettings.fast { limit = min(limit ?? 2, 2) }
    let refIndex: Int
    switch ctx.value("reference") {
    case .some(.number(let d)) where d == d.rounded() && d >= 0 && Int(d) < groups.count: refIndex = Int(d)
    case .some(.string(let s)):
        guard let i = groups.firstIndex(where: { $0.name == s }) else { throw ctx.error("reference", "names no family: '\(s)'\(didYouMean(s, in: groups.map(\.name)))") }
        refIndex = i
    default: throw ctx.error("reference", "expects a family's index (0..<\(groups.count)) or name")
    }
    // Evaluate every run: metrics per task from the model that covers it.
    var results: [[[String: [Metric]]]] = []
    var images = 0
    for g in groups {
        var rs: [[String: [Metric]]] = []
        for run in g.runs {
            var merged: [String: [Metric]] = [:]
            for m in run.models {
                let (ms, n) = try m.evaluate(data, split: split, batch: 64, limit: limit, registry: registry, showProgress: nil)
                m.record(eval: EvalPoint(step: m.steps, split: split.rawValue, metrics: ms))
                for (t, v) in ms where merged[t] == nil { merged[t] = v }
                images = n
            }
            rs.append(merged)
        }
        results.append(rs)
    }
    let ref = groups[refIndex]
    let tasks = ref.runs[0].tasks
    // The reference's mean metrics (Δm of every run is measured against them).
    var refMean: [String: [Metric]] = [:]
    for t in tasks {
        guard let first = results[refIndex][0][t] else { continue }
        refMean[t] = first.map { m in
            Metric(m.name, meanStd(results[refIndex].compactMap { $0[t]?.first { $0.name == m.name }?.value }).mean, higherIsBetter: m.higherIsBetter)
        }
    }
    var metricCols: [(task: String, metric: String, up: Bool)] = []
    for t in tasks { for m in refMean[t] ?? [] { metricCols.append((t, m.name, m.higherIsBetter)) } }
    let seeds = groups.map(\.runs.count)
    let columns = ["model"] + metricCols.map { "\($0.task) \($0.metric) \($0.up ? "↑" : "↓")" }
        + ["Δm % vs \(ref.name)", "params", "MFLOP/img per task", "train s"] + (seeds.contains { $0 > 1 } ? ["seeds"] : [])
    let table = TableValue(title: "\(data.dataset.name): \(split.rawValue) split, \(images) images; Δm against \(ref.name)", columns: columns)
    var flopNotes: [String] = []
    for (gi, g) in groups.enumerated() {
        var cells: [String] = [], values: [(String, Double)] = []
        for c in metricCols {
            let xs = results[gi].compactMap { $0[c.task]?.first { $0.name == c.metric }?.value }
            cells.append(xs.isEmpty ? "–" : cell(xs))
            if !xs.isEmpty { values.append(("\(c.task)_\(c.metric)", meanStd(xs).mean)) }
        }
        for t in tasks {   // each task's own relative gain (mean over its metrics and the seeds), for plot_gains
            let gains = results[gi].compactMap { r in r[t].map { Metrics.deltaM([t: $0], reference: refMean) } }
            if !gains.isEmpty { values.append(("gain_\(t)", meanStd(gains).mean)) }
        }
        let dms = results[gi].map { Metrics.deltaM($0, reference: refMean) }
        cells.append(cell(dms, format: "%+.2f"))
        let (dm, dstd) = meanStd(dms)
        values += [("delta_m", dm), ("delta_m_std", dstd)]
        let run = g.runs[0]
        let params = Double(run.models.reduce(0) { $0 + $1.model.parameterCount })
        cells.append(formatCount(Int(params)))
        var perTask: [(String, Double)] = []
        for t in tasks { if let m = run.model(for: t) { perTask.append((t, try forwardFLOPs(m, task: t))) } }
        let meanFlops = perTask.isEmpty ? 0 : perTask.map(\.1).reduce(0, +) / Double(perTask.count)
        cells.append(String(format: "%.2f", meanFlops / 1e6))
        flopNotes.append("\(g.name): " + perTask.map { "\($0.0) \(String(format: "%.2f", $0.1 / 1e6))" }.joined(separator: ", "))
        let secs = g.runs.map { $0.models.reduce(0) { $0 + $1.trainSeconds } }
        cells.append(cell(secs, format: "%.0f"))
        if seeds.contains(where: { $0 > 1 }) { cells.append("\(g.runs.count)") }
        values += [("params", params), ("mflops", meanFlops / 1e6), ("train_s", meanStd(secs).mean), ("seeds", Double(g.runs.count))]
        table.add(g.name, cells: cells, values: values)
    }
    table.kind = "compare"
    table.info = ["reference": ref.name, "tasks": tasks.joined(separator: "\u{1F}")]
    table.notes.append("Δm: mean over tasks and metrics of the relative gain over \(ref.name)'s mean (signs by direction), in percent; mean ± std over seeds.")
    table.notes.append("MFLOP per task and image (matrix products of one task's forward, as routed): " + flopNotes.joined(separator: "; "))
    table.notes.append("train s: wall seconds in training steps (all of a family's models, and all the training a loaded or transferred model had before), on this machine as run.")
    return table
}

// MARK: - specialisation

func specialisationTable(_ ms: [ModelValue], names: [String], threshold: Double, _ ctx: CallContext) throws -> TableValue {
    for (m, n) in zip(ms, names) {
        guard m.model.config.hasExperts else { throw ScriptError(.value, "specialisation: '\(n)' has no MoE layers (usage statistics exist only for experts)") }
        guard !m.model.usage.layers.isEmpty else { throw ScriptError(.value, "specialisation: '\(n)' has no usage statistics yet (train it first)") }
    }
    let layers = moeLayerNames(ms[0].model)
    let shapes = ms.map { m in Dictionary(m.model.config.moeLayers.map { ($0.name, ($0.experts, $0.topK)) }) { a, _ in a } }
    var columns = ["layer"]
    for n in names { columns += ["\(n) H(E|T)", "\(n) H(E)", "\(n) MI", "\(n) experts/task"] }
    let table = TableValue(title: "Specialisation: entropies of expert usage per MoE layer (nats), experts used per task", columns: columns)
    var sums = [[Double]](repeating: [0, 0, 0, 0], count: ms.count)
    var counted = [Int](repeating: 0, count: ms.count)
    for layer in layers {
        var cells: [String] = [], values: [(String, Double)] = []
        for (i, m) in ms.enumerated() {
            guard let h = m.model.usage.entropy(layer: layer), let (e, k) = shapes[i][layer] else {
                cells += ["–", "–", "–", "–"]; continue
            }
            let tasks = m.model.usage.tasks(in: layer)
            let used = tasks.map { Double(m.model.keptExperts(task: $0, layer: layer, experts: e, topK: k, threshold: threshold).count) }
            let avgUsed = used.reduce(0, +) / Double(max(used.count, 1))
            cells += [String(format: "%.3f", h.conditional), String(format: "%.3f", h.marginal), String(format: "%.3f", h.mutualInformation),
                      String(format: "%.1f / %d", avgUsed, e)]
            let key = names[i]
            values += [("\(key)_conditional", h.conditional), ("\(key)_marginal", h.marginal), ("\(key)_mi", h.mutualInformation), ("\(key)_experts", avgUsed)]
            sums[i][0] += h.conditional; sums[i][1] += h.marginal; sums[i][2] += h.mutualInformation; sums[i][3] += avgUsed
            counted[i] += 1
        }
        table.add(layer, cells: cells, values: values)
    }
    var cells: [String] = [], values: [(String, Double)] = []
    for i in ms.indices {
        let n = Double(max(counted[i], 1))
        let s = sums[i].map { $0 / n }
        cells += [String(format: "%.3f", s[0]), String(format: "%.3f", s[1]), String(format: "%.3f", s[2]), String(format: "%.1f", s[3])]
        values += [("\(names[i])_conditional", s[0]), ("\(names[i])_marginal", s[1]), ("\(names[i])_mi", s[2]), ("\(names[i])_experts", s[3])]
    }
    table.add("mean", cells: cells, values: values)
    table.notes.append("H(E|T): entropy of a task's expert usage, averaged over tasks; H(E): entropy of the usage averaged over tasks; MI = H(E) − H(E|T). "
                       + "High MI with low H(E|T): each task uses few experts and tasks use different ones. Uniform usage over E experts gives H = ln E.")
    table.notes.append("experts/task: experts with usage above \(formatNumber(threshold))/top-k percent (what extract keeps), mean over tasks.")
    return table
}

// MARK: - extraction

/// Median seconds of a one-task forward over `x` for each model, after one warm-up each; the models take turns,
/// so drift on a shared machine affects them alike.
func timeForwards(_ models: [SquadModel], _ x: Tensor, task: String, reps: Int) throws -> [Double] {
    var times = [[Double]](repeating: [], count: models.count)
    try inference(models) {
        for i in 0...reps {
            for (j, m) in models.enumerated() {
                let t0 = Date()
                _ = try m(x, tasks: [task])
                if i > 0 { times[j].append(Date().timeIntervalSince(t0)) }
            }
        }
    }
    return times.map { $0.sorted()[$0.count / 2] }
}

func extractionTable(_ ctx: CallContext, _ m: ModelValue, _ data: DatasetValue) throws -> TableValue {
    let registry = ctx.interpreter.table.registry
    let tasks = try ctx.strings("tasks") ?? m.model.tasks
    for t in tasks where !m.model.tasks.contains(t) { throw ctx.error("tasks", "names no task of the model: '\(t)'\(didYouMean(t, in: m.model.tasks))") }
    guard !m.model.usage.layers.isEmpty || !m.model.config.hasExperts else { throw ctx.error("model", "has no usage statistics yet (train it first)") }
    let threshold = try ctx.number("threshold", 3)
    let batch = try ctx.count("batch", 64), reps = try ctx.count("reps", 7)
    var limit = try ctx.int("limit")
    if ScriptSettings.fast { limit = min(limit ?? 2, 2) }
    let stream = try BatchStream(data, split: .test, batchSize: min(batch, data.dataset.count(.test)), shuffle: false, seed: 0)
    let (x, _) = try stream.next()
    let (full, _) = try m.evaluate(data, split: .test, batch: 64, limit: limit, registry: registry, showProgress: nil)
    let table = TableValue(title: "Extraction: each task's experts as a standalone model, against the full squad (test split; one-task forward of \(x.shape[0]) images)",
                           columns: ["task", "params full", "params extracted", "kept", "ms full", "ms extracted", "speed-up", "metrics full → extracted"])
    for t in tasks {
        let (small, _) = try m.model.extract(task: t, threshold: threshold)
        let sv = ModelValue(small, label: "extracted \(t)")
        let (ext, _) = try sv.evaluate(data, split: .test, batch: 64, limit: limit, registry: registry, showProgress: nil)
        let tt = try timeForwards([m.model, small], x, task: t, reps: reps)
        let (tf, te) = (tt[0], tt[1])
        let pf = m.model.parameterCount, pe = small.parameterCount
        let ms = (full[t] ?? []).map { f -> String in
            let e = ext[t]?.first { $0.name == f.name }?.value ?? .nan
            return "\(f.name) \(formatMetric(f.value)) → \(formatMetric(e))"
        }.joined(separator: "; ")
        var values: [(String, Double)] = [("params_full", Double(pf)), ("params_extracted", Double(pe)),
                                          ("ms_full", tf * 1e3), ("ms_extracted", te * 1e3)]
        var maxRel = 0.0
        for f in full[t] ?? [] {
            values.append(("\(f.name)_full", f.value))
            guard let e = ext[t]?.first(where: { $0.name == f.name }) else { maxRel = .infinity; continue }
            values.append(("\(f.name)_extracted", e.value))
            maxRel = max(maxRel, abs(e.value - f.value) / max(abs(f.value), 1e-12))
        }
        values.append(("max_rel_change", maxRel))
        table.add(t, cells: [formatCount(pf), formatCount(pe), String(format: "%.0f%%", 100 * Double(pe) / Double(max(pf, 1))),
                             String(format: "%.1f", tf * 1e3), String(format: "%.1f", te * 1e3), String(format: "%.2f×", tf / max(te, 1e-9)), ms],
                  values: values)
    }
    table.notes.append("kept: experts whose usage% > \(formatNumber(threshold))/top-k in each MoE layer (at least top-k), with the task's router, head and embedding.")
    table.notes.append("ms: median of \(reps) one-task forwards (eval mode, no gradients, full and extracted taking turns) after one warm-up, on this machine.")
    return table
}

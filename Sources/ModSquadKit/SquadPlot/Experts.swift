// Expert usage plots (spec §8): per-layer task × expert heatmaps of usage %, and the clustered task-relation matrix.
import Foundation
import ModSquad

/// The layers to draw: all with statistics, or the requested ones (unknown names are an error that lists the known).
func usageLayers(_ usage: UsageStats, _ requested: [String]?, plot: String) throws -> [String] {
    let known = usage.layers.filter { !usage.tasks(in: $0).isEmpty }
    guard !known.isEmpty else {
        throw PlotError.emptyStatistics(plot: plot, message: "no expert usage statistics yet: the model has not been trained or evaluated on any batch (usage is recorded per MoE layer during training and eval)")
    }
    guard let req = requested else { return known }
    guard !req.isEmpty else { throw PlotError.badInput(plot: plot, message: "the list of layers is empty; known: \(known.joined(separator: ", "))") }
    for l in req where !known.contains(l) {
        throw PlotError.badInput(plot: plot, message: "no usage statistics for layer '\(l)'; known: \(known.joined(separator: ", "))")
    }
    return req
}

/// "MoA · top-2 of 8" for each MoE layer of a model; for an extracted model, "kept 3 of 8" and the kept
/// experts' full-model numbers as column labels.
func layerNotes(_ model: SquadModel) -> (notes: [String: String], columns: [String: [String]]) {
    var notes: [String: String] = [:], columns: [String: [String]] = [:]
    func add(_ name: String, _ kind: String, _ e: Int, _ k: Int, _ router: ExtractedRouter?) {
        if let r = router {
            notes[name] = "\(kind) · top-\(k) · kept \(r.kept.count) of \(r.width)"
            columns[name] = r.kept.map(String.init)
        } else {
            notes[name] = "\(kind) · top-\(k) of \(e)"
        }
    }
    for (i, b) in model.config.blocks.enumerated() {
        if case let .moa(e, k) = b.attention { add("blocks.\(i).attn", "MoA", e, k, b.attentionRouter) }
        if case let .moe(e, k) = b.mlp { add("blocks.\(i).mlp", "MoE-MLP", e, k, b.mlpRouter) }
    }
    return (notes, columns)
}

func usagePanel(_ usage: UsageStats, layer: String, note: String?, columns: [String]?, plot: String) throws -> HeatmapPanel {
    let tasks = usage.tasks(in: layer)   // alphabetical, as the authors
    var rows: [[Double]] = []
    for t in tasks {
        guard let u = usage.percentages(layer: layer, task: t) else { continue }
        guard u.allSatisfy({ $0.isFinite }) else { throw PlotError.badInput(plot: plot, message: "layer '\(layer)', task '\(t)': usage is not finite") }
        rows.append(u)
    }
    let experts = rows.map(\.count).max() ?? 0
    guard experts > 0 else { throw PlotError.emptyStatistics(plot: plot, message: "layer '\(layer)' has statistics for no expert") }
    rows = rows.map { $0 + [Double](repeating: 0, count: experts - $0.count) }
    let hi = max(rows.joined().max() ?? 0, 1e-9)
    let wide = experts > 24
    return HeatmapPanel(title: layer, subtitle: note ?? "", rowLabels: tasks, columnLabels: columns.flatMap { $0.count == experts ? $0 : nil } ?? (0..<experts).map(String.init),
                        values: rows, lo: 0, hi: hi, map: .blues,
                        annotate: { String(Int($0)) }, xLabel: "expert", cellWidth: wide ? 22 : 30, cellHeight: 22,
                        regionPrefix: layer + "/")
}

/// For every MoE layer, a task × expert heatmap of usage % (spec §8a): rows are tasks in alphabetical order,
/// columns experts, cells annotated with int(u) and coloured with 'Blues' from 0 to the layer's maximum.
///
/// `perLayer`: one PNG per layer (`<path without .png>_<layer>.png`, or `<folder>/experts_<layer>.png` when
/// `path` is not a .png), else a grid of all layers (`columns` wide) in `path`.
/// Regions: `<layer>/<task>/<expert>` for each cell, `<layer>/grid` for each heatmap.
@discardableResult
public func plotExperts(_ usage: UsageStats, to path: String, perLayer: Bool = false, layers: [String]? = nil,
                        columns: Int = 2, title: String? = "Expert usage per task (%)", style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    try plotExperts(usage, notes: [:], columns: [:], to: path, perLayer: perLayer, layers: layers, columns: columns, title: title, style: style)
}

/// `plotExperts` for a model: its usage statistics, with each layer's kind and top-k in the panel titles;
/// an extracted model's columns are its kept experts' numbers in the full model (region names use them too).
@discardableResult
public func plotExperts(_ model: SquadModel, to path: String, perLayer: Bool = false, layers: [String]? = nil,
                        columns: Int = 2, title: String? = "Expert usage per task (%)", style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let info = layerNotes(model)
    return try plotExperts(model.usage, notes: info.notes, columns: info.columns, to: path, perLayer: perLayer, layers: layers, columns: columns, title: title, style: style)
}

func plotExperts(_ usage: UsageStats, notes: [String: String], columns labels: [String: [String]], to path: String, perLayer: Bool, layers: [String]?,
                 columns: Int, title: String?, style: PlotStyle) throws -> PlotOutput {
    let plot = "plot_experts"
    let ls = try usageLayers(usage, layers, plot: plot)
    guard !path.isEmpty else { throw PlotError.cannotWrite(path: path, reason: "the path is empty") }
    let panels = try ls.map { try usagePanel(usage, layer: $0, note: notes[$0], columns: labels[$0], plot: plot) }
    if perLayer {
        var files: [PlotFile] = []
        for (l, p) in zip(ls, panels) {
            files.append(try Figure.render([p], columns: 1, title: title, style: style,
                                           path: Figure.itemPath(path, item: l, defaultStem: "experts"), plot: plot))
        }
        return PlotOutput(files: files)
    }
    return PlotOutput(files: [try Figure.render(panels, columns: columns, title: title, style: style, path: path, plot: plot)])
}

/// The task relation matrix of spec §8b with a clustered task order.
public struct TaskRelations {
    /// Tasks in alphabetical order; `matrix[i][j]` = Σ_layers Σ_e u_i(e)·u_j(e), u in fractions.
    public let tasks: [String]
    public let matrix: [[Double]]
    /// Indices into `tasks`, related tasks next to each other (average-linkage clustering on cosine similarity).
    public let order: [Int]
    public var orderedTasks: [String] { order.map { tasks[$0] } }
    public init(tasks: [String], matrix: [[Double]], order: [Int]) { self.tasks = tasks; self.matrix = matrix; self.order = order }
}

/// R[i, j] = Σ_layers Σ_e (u_i(e)/100)(u_j(e)/100) over `layers` (default: every layer with statistics);
/// a task without statistics in a layer contributes nothing there.
public func taskRelations(_ usage: UsageStats, layers: [String]? = nil) throws -> TaskRelations {
    let ls = try usageLayers(usage, layers, plot: "task_relations")
    let tasks = Array(Set(ls.flatMap { usage.tasks(in: $0) })).sorted()
    let n = tasks.count
    var r = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for l in ls {
        let u = tasks.map { usage.percentages(layer: l, task: $0)?.map { $0 / 100 } }
        for i in 0..<n { for j in i..<n {
            guard let a = u[i], let b = u[j] else { continue }
            var s = 0.0
            for e in 0..<min(a.count, b.count) { s += a[e] * b[e] }
            r[i][j] += s; if i != j { r[j][i] += s }
        } }
    }
    return TaskRelations(tasks: tasks, matrix: r, order: relationOrder(r))
}

/// A leaf order from average-linkage agglomerative clustering on cosine similarity S = R/√(diag·diag):
/// merges the most similar clusters first, joining each pair at the ends that are most similar.
public func relationOrder(_ r: [[Double]]) -> [Int] {
    let n = r.count
    guard n > 2 else { return Array(0..<n) }
    let s = relationSimilarity(r)
    var clusters = (0..<n).map { [$0] }
    while clusters.count > 1 {
        let (best, _) = closestClusters(s, clusters)
        let a = clusters[best.0], b = clusters[best.1]
        let options = [a + b, a + b.reversed(), a.reversed() + b, a.reversed() + b.reversed()]
        var merged = options[0], mv = -Double.infinity
        for o in options {
            let joint = s[o[a.count - 1]][o[a.count]]
            if joint > mv + 1e-12 { merged = o; mv = joint }
        }
        clusters[best.0] = merged
        clusters.remove(at: best.1)
    }
    return clusters[0]
}

/// Cosine similarity of tasks' expert usage: S = R / √(diag·diag) (0 where a task has no usage).
public func relationSimilarity(_ r: [[Double]]) -> [[Double]] {
    let n = r.count
    var s = r
    for i in 0..<n { for j in 0..<n {
        let d = (r[i][i] * r[j][j]).squareRoot()
        s[i][j] = d > 0 && r[i][j].isFinite ? r[i][j] / d : 0
    } }
    return s
}

/// Average similarity between two clusters of task indices.
func averageLink(_ s: [[Double]], _ a: [Int], _ b: [Int]) -> Double {
    var t = 0.0
    for i in a { for j in b { t += s[i][j] } }
    return t / Double(a.count * b.count)
}

/// The two clusters (indices into `clusters`, first < second) with the highest average link, and that link.
func closestClusters(_ s: [[Double]], _ clusters: [[Int]]) -> ((Int, Int), Double) {
    var best = (0, 1), bestV = -Double.infinity
    for a in 0..<clusters.count { for b in (a + 1)..<clusters.count {
        let v = averageLink(s, clusters[a], clusters[b])
        if v > bestV + 1e-12 { bestV = v; best = (a, b) }
    } }
    return (best, bestV)
}

/// Task groups proposed from shared-expert usage (the paper's relation matrix read as a grouping): average-
/// linkage clustering on `relationSimilarity`, merging while the best pair of groups is at least `threshold`
/// similar (default: the mean off-diagonal similarity, i.e. tasks more related than average go together),
/// or until `count` groups remain when given. Returns groups of task names with their mean within-group
/// similarity, largest group first.
public func taskGroups(_ rel: TaskRelations, count: Int? = nil, threshold: Double? = nil) -> [(tasks: [String], similarity: Double)] {
    let n = rel.tasks.count
    guard n > 0 else { return [] }
    let s = relationSimilarity(rel.matrix)
    var off = 0.0
    for i in 0..<n { for j in 0..<n where i != j { off += s[i][j] } }
    let cut = threshold ?? (n > 1 ? off / Double(n * (n - 1)) : 1)
    var clusters = (0..<n).map { [$0] }
    while clusters.count > max(count ?? 1, 1) {
        let (best, bestV) = closestClusters(s, clusters)
        if count == nil && bestV < cut { break }
        clusters[best.0] += clusters[best.1]
        clusters.remove(at: best.1)
    }
    return clusters.map { c in
        let sim = c.count > 1 ? (c.flatMap { i in c.filter { $0 != i }.map { s[i][$0] } }.reduce(0, +) / Double(c.count * (c.count - 1))) : 1
        return (c.sorted().map { rel.tasks[$0] }, sim)
    }.sorted { ($0.tasks.count, $1.tasks.first ?? "") > ($1.tasks.count, $0.tasks.first ?? "") }
}

/// The T×T task relation matrix (spec §8b), annotated, 'Blues' over the data range, tasks in clustered order.
/// Regions: `<row task>/<column task>` for each cell, `grid` for the matrix.
@discardableResult
public func plotRelations(_ usage: UsageStats, to path: String, layers: [String]? = nil,
                          title: String? = "Task relations through shared experts", style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    let plot = "plot_relations"
    _ = try usageLayers(usage, layers, plot: plot)
    let rel = try taskRelations(usage, layers: layers)
    let names = rel.orderedTasks
    let values = rel.order.map { i in rel.order.map { j in rel.matrix[i][j] } }
    let flat = values.joined()
    guard flat.allSatisfy({ $0.isFinite }) else { throw PlotError.badInput(plot: plot, message: "relation values are not finite") }
    var lo = flat.min() ?? 0, hi = flat.max() ?? 1
    if hi - lo < 1e-9 { lo = min(lo, 0); hi = max(hi, lo + 1e-9) }
    let nl = layers?.count ?? usage.layers.filter { !usage.tasks(in: $0).isEmpty }.count
    let panel = HeatmapPanel(title: "R[i, j] = Σ_layers Σ_e u_i(e)·u_j(e)", subtitle: "\(nl) layer\(nl == 1 ? "" : "s") · tasks ordered by clustering",
                             rowLabels: names, columnLabels: names, values: values, lo: lo, hi: hi, map: .blues,
                             annotate: { String(format: "%.2f", $0) }, cellWidth: 40, cellHeight: 28, verticalColumnLabels: true)
    return PlotOutput(files: [try Figure.render([panel], columns: 1, title: title, style: style, path: path, plot: plot)])
}

/// `plotRelations` for a model's usage statistics.
@discardableResult
public func plotRelations(_ model: SquadModel, to path: String, layers: [String]? = nil,
                          title: String? = "Task relations through shared experts", style: PlotStyle = PlotStyle()) throws -> PlotOutput {
    try plotRelations(model.usage, to: path, layers: layers, title: title, style: style)
}

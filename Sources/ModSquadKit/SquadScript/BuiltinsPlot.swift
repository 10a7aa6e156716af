// Plot builtins over SquadPlot: plot_experts, plot_relations, plot_curves, plot_predictions, plot_routes, plot_costs; each returns the picture.
import Foundation
import SquadTensor
import ModSquad
import SquadPluginAPI
import SquadPlot

func plotBuiltins() -> [Builtin] {
    let pathParam = ParamSpec("path", .string, Value.none, "the PNG to write (default plots/<plot>_<n>.png)")
    let modelParam = ParamSpec("model", .object("model"), nil, "a model")
    return [
        Builtin("plot_experts", [
            modelParam, pathParam,
            ParamSpec("per_layer", .bool, .bool(false), "one PNG per MoE layer instead of one grid"),
            ParamSpec("layers", .strings, Value.none, "only these layers (m.layers lists them)"),
        ], doc: "Task × expert usage heatmaps (%), one per MoE layer.", category: "plots") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let path = try plotPath(ctx, "experts")
            let out = try plotExperts(m.model, to: path, perLayer: try ctx.bool("per_layer", false), layers: try ctx.strings("layers"))
            return images(out, title: "expert usage", ctx)
        },
        Builtin("plot_relations", [
            modelParam, pathParam,
            ParamSpec("layers", .strings, Value.none, "only these layers"),
        ], doc: "The task relation matrix through shared experts, tasks ordered by clustering.", category: "plots") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let out = try plotRelations(m.model, to: try plotPath(ctx, "relations"), layers: try ctx.strings("layers"))
            return images(out, title: "task relations", ctx)
        },
        Builtin("plot_curves", [
            ParamSpec("models", .oneOf([.object("model"), .list]), nil, "a model or a list of models (overlaid)"),
            pathParam,
            ParamSpec("metrics", .bool, .bool(false), "draw evaluation metrics instead of training losses"),
            ParamSpec("smoothing", .number, .number(0), "exponential smoothing in [0, 1)"),
            ParamSpec("log", .bool, .bool(false), "logarithmic loss axis"),
        ], doc: "Training loss curves per task and aux loss (or evaluation metrics), several models overlaid.", category: "plots") { ctx in
            let ms = try plotModels(ctx)
            let path = try plotPath(ctx, "curves")
            let panels: [CurvePanel]
            if try ctx.bool("metrics", false) {
                let runs = zip(ms, displayNames(ms)).map { m, name in (name: name, evaluations: m.evals.map { e -> (step: Double, values: [String: Double]) in
                    var v: [String: Double] = [:]
                    for (t, metrics) in e.metrics { for x in metrics { v["\(t)/\(x.name)"] = x.value } }
                    return (Double(e.step), v)
                }) }
                panels = CurvePanel.metrics(runs)
                guard !panels.isEmpty else { throw ScriptError(.value, "plot_curves: no evaluations yet (run eval, or train with eval: true)") }
            } else {
                let s = try ctx.number("smoothing", 0)
                guard s >= 0 && s < 1 else { throw ctx.error("smoothing", "must be in [0, 1), got \(formatNumber(s))") }
                panels = CurvePanel.losses(zip(ms, displayNames(ms)).map { (name: $1, logs: $0.history) }, logY: try ctx.bool("log", false), smoothing: s)
                guard !panels.isEmpty else { throw ScriptError(.value, "plot_curves: no training steps logged yet (run step or train)") }
            }
            return images(try plotCurves(panels, to: path), title: "curves", ctx)
        },
        Builtin("plot_predictions", [
            modelParam,
            ParamSpec("data", .object("dataset"), nil, "a dataset"),
            ParamSpec("task", .string, nil, "the task to draw"),
            pathParam,
            ParamSpec("samples", .int, .number(4), "rows (test images from the first)"),
            ParamSpec("split", .choice(["test", "train"]), .string("test"), "which split"),
        ], doc: "Input | target | prediction for a task, one row per sample.", category: "plots") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            let task = try ctx.string("task") ?? ""
            guard m.model.tasks.contains(task) else {
                throw ctx.error("task", "names no task of the model: '\(task)'\(didYouMean(task, in: m.model.tasks))", hint: "tasks: \(m.model.tasks.joined(separator: ", "))")
            }
            let n = try ctx.count("samples", 4)
            let (x, y0) = try firstBatch(data, split: try ctx.string("split", "test") == "train" ? .train : .test, count: n)
            let y = try m.completeTargets(x, y0, data: data, registry: ctx.interpreter.table.registry)
            let spec = try m.model.spec(task)
            let plugin = try spec.plugin.map { try ctx.interpreter.table.registry.task($0) }
            let out = try plotPredictions(m.model, images: x, targets: y, task: task, plugin: plugin, samples: Array(0..<x.shape[0]),
                                          to: try plotPath(ctx, "predictions"))
            return images(out, title: "\(task) predictions", ctx)
        },
        Builtin("plot_routes", [
            modelParam,
            ParamSpec("data", .object("dataset"), nil, "a dataset (test images)"),
            ParamSpec("layer", .string, Value.none, "a MoE layer (default the first; m.layers lists them)"),
            ParamSpec("tasks", .strings, Value.none, "tasks to show (default all)"),
            ParamSpec("samples", .int, .number(2), "images"),
            pathParam,
        ], doc: "Each patch coloured by the expert its top-1 slot chose, one panel per task, over the image.", category: "plots") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            let (x, _) = try firstBatch(data, split: .test, count: try ctx.count("samples", 2))
            if let l = try ctx.string("layer") {
                let layers = moeLayerNames(m.model)
                guard layers.contains(l) else { throw ctx.error("layer", "names no MoE layer: '\(l)'\(didYouMean(l, in: layers))", hint: "layers: \(layers.joined(separator: ", "))") }
            }
            let out = try plotRoutes(m.model, images: x, layer: try ctx.string("layer"), tasks: try ctx.strings("tasks"),
                                     samples: Array(0..<x.shape[0]), to: try plotPath(ctx, "routes"))
            return images(out, title: "routes", ctx)
        },
        Builtin("plot_costs", [
            ParamSpec("models", .list, nil, "models to compare (e.g. [m, d, mtl])"),
            pathParam,
        ], doc: "Bars of parameter counts: the full squad against extracted models and baselines.", category: "plots") { ctx in
            let ms = try plotModels(ctx)
            let out = try plotCosts(parameters: parameterCounts(zip(ms, displayNames(ms)).map { (name: $1, model: $0.model) }), to: try plotPath(ctx, "costs"))
            return images(out, title: "costs", ctx)
        },
        Builtin("plot_gains", [
            ParamSpec("table", .object("table"), nil, "a table from compare"),
            pathParam,
        ], doc: "Bars of each task's relative gain over the reference (%, signs by direction), one colour per family, and Δm.", category: "plots") { ctx in
            let t = try ctx.require("table", as: TableValue.self)
            guard t.kind == "compare", let ref = t.info["reference"], let tasks = t.info["tasks"]?.split(separator: "\u{1F}").map(String.init) else {
                throw ctx.error("table", "expects a table made by compare")
            }
            let rows = t.rows.filter { $0.name != ref }
            guard !rows.isEmpty else { throw ctx.error("table", "has only the reference \(ref): nothing to compare") }
            func v(_ r: TableValue.Row, _ k: String) -> Double { r.values.first { $0.0 == k }?.1 ?? .nan }
            let series = rows.map { r in BarSeries(r.name, values: tasks.map { v(r, "gain_\($0)") } + [v(r, "delta_m")]) }
            let panel = BarPanel("gain over \(ref) per task (%)", categories: tasks + ["Δm"], series: series, yLabel: "%")
            let width = max(460, Double(tasks.count + 1) * (24 * Double(series.count) + 16) + 90)
            let out = try plotBars([panel], to: try plotPath(ctx, "gains"), columns: 1, panelWidth: width, panelHeight: 340, title: nil)
            return images(out, title: "gains over \(ref)", ctx)
        },
    ]
}

/// The `models` (or `model`) argument as models.
func plotModels(_ ctx: CallContext) throws -> [ModelValue] {
    let name = ctx.builtin.params[0].name
    switch ctx.value(name) {
    case .some(.object(let m as ModelValue)): return [m]
    case .some(.list(let l)) where !l.isEmpty:
        return try l.flatMap { v -> [ModelValue] in
            if case .object(let m as ModelValue) = v { return [m] }
            if case .list(let inner) = v { return inner.compactMap { if case .object(let m as ModelValue) = $0 { return m }; return nil } }
            throw ctx.error(name, "expects models, got a list holding \(v.typeDescription)")
        }
    default: throw ctx.error(name, "expects a model or a non-empty list of models")
    }
}

/// The output path: the argument (relative to the interpreter's folder) or plots/<kind>_<n>.png.
func plotPath(_ ctx: CallContext, _ kind: String) throws -> String {
    let interp = ctx.interpreter
    let url: URL
    if let p = try ctx.string("path") {
        guard !p.isEmpty else { throw ctx.error("path", "is empty") }
        url = interp.resolve(p)
    } else {
        interp.plotCounter += 1
        url = interp.resolve("plots/\(kind)_\(interp.plotCounter).png")
    }
    do { try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true) }
    catch { throw ctx.error("path", "cannot create its folder: \(describe(error))") }
    return url.path
}

/// One picture, or a list of them (one PNG per layer).
func images(_ out: PlotOutput, title: String, _ ctx: CallContext) -> Value {
    let base = ctx.interpreter.directory.standardizedFileURL.path + "/"
    let vs = out.files.map { f -> Value in
        let shown = f.path.hasPrefix(base) ? String(f.path.dropFirst(base.count)) : f.path
        return .object(ImageValue(path: f.path, title: title, width: f.width, height: f.height, shownPath: shown))
    }
    return vs.count == 1 ? vs[0] : .list(vs)
}

// Training builtins: step and eval_step (drive training from the prompt), train, eval, finetune, delta_m.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI

func trainingParams(lr: Double) -> [ParamSpec] {
    [
        ParamSpec("epochs", .number, .number(1), "passes over the training split (fractions allowed)"),
        ParamSpec("steps", .int, Value.none, "optimisation steps (overrides epochs)"),
        ParamSpec("batch", .int, .number(32), "batch size"),
        ParamSpec("lr", .number, .number(lr), "peak learning rate"),
        ParamSpec("min_lr", .number, .number(1e-6), "final learning rate of the cosine schedule"),
        ParamSpec("warmup", .int, Value.none, "linear warm-up steps (default \(Int(TrainSettings.defaultWarmupFraction * 100))% of this call's steps: full-lr first Adam steps make the outcome swing with the seed)"),
        ParamSpec("schedule", .choice(["cosine", "constant"]), .string("cosine"), "learning-rate schedule over this call"),
        ParamSpec("weight_decay", .number, Value.none, "AdamW weight decay (default 0.05)"),
        ParamSpec("mi", .number, Value.none, "MI loss weight (default 0.005 for squads, 0 for baselines)"),
        ParamSpec("switch", .number, Value.none, "switch load-balance loss weight"),
        ParamSpec("z", .number, Value.none, "router z-loss weight"),
        ParamSpec("aux", .strings, Value.none, "aux-loss plugins to add, at their default weights"),
        ParamSpec("clip", .number, Value.none, "clip the gradient norm (0 = off)"),
        ParamSpec("weighting", .choice(["equal", "fixed", "uncertainty"]), Value.none, "how task losses combine (default equal, fixed when a task weight ≠ 1)"),
        ParamSpec("augment", .bool, .bool(true), "random horizontal flips (labels mirrored with the image)"),
        ParamSpec("eval", .bool, .bool(false), "evaluate on the test split after each epoch"),
        ParamSpec("checkpoint", .string, Value.none, "save here (atomically) every save_every steps and at the end; {step} in the name numbers the files"),
        ParamSpec("save_every", .int, Value.none, "steps between checkpoints (default: only at the end)"),
        ParamSpec("resume", .string, Value.none, "a checkpoint of this training call to continue from: weights, optimizer, step, RNG and data order"),
    ]
}

func trainingBuiltins() -> [Builtin] {
    let modelParam = ParamSpec("model", .oneOf([.object("model"), .list]), nil, "a model (or a list of models, e.g. baseline(m, \"stl\"))")
    let dataParam = ParamSpec("data", .object("dataset"), nil, "a dataset")
    return [
        Builtin("step", [
            ParamSpec("model", .object("model"), nil, "the model"), dataParam,
            ParamSpec("n", .int, .number(1), "steps to run"),
            ParamSpec("batch", .int, .number(32), "batch size"),
            ParamSpec("lr", .number, Value.none, "learning rate (default: the last one used, else 1e-3)"),
            ParamSpec("mi", .number, Value.none, "MI loss weight"),
        ], doc: "Runs n training steps on the next batches, showing every loss term of each; returns the last step's losses.", category: "training") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            var n = try ctx.count("n", 1), batch = try ctx.count("batch", 32)
            if ScriptSettings.fast { n = min(n, 3); batch = min(batch, 16) }
            var s = TrainSettings()
            s.lr = try ctx.number("lr").map { Float($0) }
            s.mi = try ctx.number("mi").map { Float($0) }
            s.schedule = "constant"
            let first = m.steps
            // Every step but the last prints as it ends; the last is the value (an expression statement prints it).
            let logs = try m.trainSteps(data, n: n, batch: batch, settings: s, registry: ctx.interpreter.table.registry, meter: nil) { log in
                if log.step - first < n { ctx.output.write(stepRecord(log).summary + "\n") }
            }
            guard let last = logs.last else { return .none }
            return .object(stepRecord(last))
        },
        Builtin("eval_step", [
            ParamSpec("model", .object("model"), nil, "the model"), dataParam,
            ParamSpec("batch", .int, .number(32), "batch size"),
            ParamSpec("split", .choice(["test", "train"]), .string("test"), "which split"),
        ], doc: "Evaluates one batch (the next of the split) and shows each task's metrics.", category: "training") { ctx in
            let m = try ctx.require("model", as: ModelValue.self)
            let data = try ctx.require("data", as: DatasetValue.self)
            try m.checkTasks(data)
            var batch = try ctx.count("batch", 32)
            if ScriptSettings.fast { batch = min(batch, 16) }
            let split: DataSplit = try ctx.string("split", "test") == "train" ? .train : .test
            let s = try m.stream(data, split: split, batch: batch, shuffle: false)
            let (x, y) = try s.next()
            let reg = ctx.interpreter.table.registry
            let metrics = try m.batchMetrics(x, try m.completeTargets(x, y, data: data, registry: reg), registry: reg)
            return .object(metricsRecord(metrics, order: m.model.tasks,
                                         title: "eval_step \(split.rawValue) batch \(s.position)/\(s.batchesPerEpoch) (\(x.shape[0]) images)"))
        },
        Builtin("train", [modelParam, dataParam] + trainingParams(lr: 1e-3),
                doc: "Trains for epochs (or steps) with AdamW and a cosine schedule, showing progress; Ctrl-C stops at a step boundary.",
                category: "training") { ctx in
            try forEachModel(ctx) { m in try runTraining(ctx, m, label: "train") }
        },
        Builtin("finetune", [modelParam, dataParam,
                             ParamSpec("task", .string, Value.none, "a new task to transfer to: only its routers, embedding and head train")]
                    + trainingParams(lr: 5e-4),
                doc: "Fine-tunes a model (e.g. an extracted one), or transfers it to a new task by training only that task's routers and head.",
                category: "training") { ctx in
            try forEachModel(ctx) { m in
                if let task = try ctx.string("task"), !m.model.tasks.contains(task) {
                    let spec = try taskSpec(task, ctx)
                    try m.model.attachForTransfer(spec)
                    // Only the new task's parameters train: a loaded checkpoint's AdamW moments (for the
                    // old, now frozen, parameters) do not apply; the transfer starts a fresh optimizer.
                    m.pendingRestore = nil
                    m.onlyTasks = [task]
                    try rebind(m, ctx.interpreter.table.registry)
                    let trainable = m.model.trainableParameters().reduce(0) { $0 + $1.tensor.count }
                    ctx.output.write("transfer to '\(task)': \(formatCount(trainable)) of \(formatCount(m.model.parameterCount)) params train\n")
                }
                return try runTraining(ctx, m, label: "finetune")
            }
        },
        Builtin("eval", [
            modelParam, dataParam,
            ParamSpec("split", .choice(["test", "train"]), .string("test"), "which split"),
            ParamSpec("batch", .int, .number(64), "batch size"),
            ParamSpec("limit", .int, Value.none, "evaluate at most this many batches"),
        ], doc: "Each task's metrics over a split.", category: "training") { ctx in
            let data = try ctx.require("data", as: DatasetValue.self)
            let split: DataSplit = try ctx.string("split", "test") == "train" ? .train : .test
            var batch = try ctx.count("batch", 64)
            var limit = try ctx.int("limit")
            if ScriptSettings.fast { batch = min(batch, 32); limit = min(limit ?? 2, 2) }
            var merged: [String: [Metric]] = [:], order: [String] = [], samples = 0, labels: [String] = []
            for m in try models(ctx) {
                let (metrics, n) = try m.evaluate(data, split: split, batch: batch, limit: limit, registry: ctx.interpreter.table.registry,
                                                  showProgress: ctx.output.isTerminal ? ctx.output : nil)
                m.record(eval: EvalPoint(step: m.steps, split: split.rawValue, metrics: metrics))
                for t in m.model.tasks where merged[t] == nil { merged[t] = metrics[t]; order.append(t) }
                samples = n; labels.append(m.label)
            }
            return .object(metricsRecord(merged, order: order, title: "eval \(split.rawValue) (\(samples) images)"))
        },
        Builtin("delta_m", [
            ParamSpec("result", .object("metrics"), nil, "metrics of the model (from eval)"),
            ParamSpec("reference", .object("metrics"), nil, "metrics of the reference, usually single-task models"),
        ], doc: "Δm: the mean relative gain over the reference across tasks and metrics, in percent (signs by direction).", category: "training") { ctx in
            let a = try ctx.require("result", as: Record.self), b = try ctx.require("reference", as: Record.self)
            return .number((Metrics.deltaM(metricsFromRecord(a), reference: metricsFromRecord(b)) * 100).rounded() / 100)
        },
    ]
}

func models(_ ctx: CallContext) throws -> [ModelValue] {
    switch ctx.value("model") {
    case .some(.object(let m as ModelValue)): return [m]
    case .some(.list(let l)):
        guard !l.isEmpty else { throw ctx.error("model", "is an empty list") }
        return try l.map { v in
            guard case .object(let m as ModelValue) = v else { throw ctx.error("model", "expects a model or a list of models, got a list holding \(v.typeDescription)") }
            return m
        }
    default: throw ctx.error("model", "expects a model or a list of models")
    }
}

/// Runs `body` for each model of the `model` argument: its result, or for a list a record of each model's
/// result (printed under the model's name as it finishes).
func forEachModel(_ ctx: CallContext, _ body: (ModelValue) throws -> Value) throws -> Value {
    let ms = try models(ctx)
    if ms.count == 1 { return try body(ms[0]) }
    let all = Record("results", title: ctx.builtin.name)
    for m in ms {
        ctx.output.write("— \(m.label)\n")
        let v = try body(m)
        ctx.output.write(v.summary + "\n")
        all.set(m.label, v)
    }
    all.customSummary = "\(ctx.builtin.name): \(ms.count) models done (" + ms.map(\.label).joined(separator: ", ") + ")"
    return .object(all)
}

func stepRecord(_ log: StepLog) -> Record {
    let r = Record("step", title: "step \(log.step)")
    r.set("step", .number(Double(log.step)))
    r.set("loss", .number(Double(log.total)))
    for (t, v) in log.taskLosses { r.set(t, .number(Double(v))) }
    for (t, v) in log.aux { r.set(t, .number(Double(v))) }
    r.set("lr", .number(Double(log.lr)))
    r.customSummary = log.description + String(format: "  lr %.3g", log.lr)
    return r
}

/// train / finetune for one model: settings from the arguments, the schedule over this call, optional evaluation per epoch.
let trainDoneKey = "msq.train.done", trainTotalKey = "msq.train.total"

/// Restores a checkpoint written by train(checkpoint:) into `m`, its trainer and data stream;
/// returns how many of this call's steps were already done.
func resumeTraining(_ ctx: CallContext, _ m: ModelValue, _ t: Trainer, _ stream: BatchStream, from path: String, total: Int) throws -> Int {
    let url = ctx.interpreter.resolve(path)
    let meta = try Checkpoint.metadata(url)
    guard let d = meta[trainDoneKey].flatMap({ Int($0) }), let tot = meta[trainTotalKey].flatMap({ Int($0) }) else {
        throw ctx.error("resume", "\(url.path) was not written by train(checkpoint: ...): it has no training position")
    }
    guard tot == total else { throw ctx.error("resume", "the checkpoint belongs to a run of \(tot) steps, this call has \(total)") }
    let (saved, step, extra) = try Checkpoint.load(url)
    guard saved.config == m.model.config else { throw ctx.error("resume", "the checkpoint's model config differs from this model's") }
    try m.model.load(saved.stateDict())
    m.model.rng = saved.rng
    m.model.usage.reset()
    for l in saved.usage.layers { for task in saved.usage.tasks(in: l) { if let f = saved.usage.ema[l]?[task] { m.model.usage.set(layer: l, task: task, ema: f) } } }
    try Checkpoint.restore(t, from: extra, step: step)
    if let secs = meta["msq.train_seconds"].flatMap(Double.init), secs.isFinite, secs >= 0 { m.trainSeconds = secs }
    if let p = try Checkpoint.loaderPosition(url) { stream.loader.seek(epoch: p.epoch, position: p.position) }
    ctx.output.write("resumed from \(url.lastPathComponent): step \(step), \(d) of \(total) steps done\n")
    return d
}

/// Before the first step: the checkpoint's folder exists (created as save() does) and takes a file, so a
/// run is not lost at its first save.
func prepareCheckpointFolder(_ ctx: CallContext, _ path: String) throws {
    guard !path.isEmpty, !path.hasSuffix("/") else { throw ctx.error("checkpoint", "must name a file, got \"\(path)\"") }
    let url = ctx.interpreter.resolve(path.replacingOccurrences(of: "{step}", with: "0"))
    let dir = url.deletingLastPathComponent()
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), !isDir.boolValue {
        throw ctx.error("checkpoint", "cannot save under \(dir.path): it is a file, not a folder")
    }
    do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    catch { throw ctx.error("checkpoint", "cannot create the folder \(dir.path): \(IOFile.reason(error).lowercased())") }
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
        throw ctx.error("checkpoint", "\(url.path) is a folder; name a file such as run-{step}.safetensors")
    }
    let probe = dir.appendingPathComponent(".msq-write-test-\(getpid())")
    guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
        throw ctx.error("checkpoint", "cannot write in \(dir.path) (permission denied or read-only)")
    }
    try? FileManager.default.removeItem(at: probe)
}


func runTraining(_ ctx: CallContext, _ m: ModelValue, label: String) throws -> Value {
    let data = try ctx.require("data", as: DatasetValue.self)
    try m.checkTasks(data)
    let reg = ctx.interpreter.table.registry
    var batch = try ctx.count("batch", 32)
    if ScriptSettings.fast { batch = min(batch, 16) }
    let epochs = try ctx.number("epochs", 1)
    guard epochs > 0, epochs <= 1e6 else { throw ctx.error("epochs", "must be in (0, 1e6], got \(formatNumber(epochs))") }
    if let aux = try ctx.strings("aux") {
        for a in aux { m.auxWeights[a] = try reg.auxLoss(a).defaultWeight }
    }
    let t = try m.ensureTrainer(reg)
    if ctx.has("aux") { try reg.bind(m.model, trainer: t, auxWeights: m.auxWeights) }
    let augment = try ctx.bool("augment", true)
    let perEpoch = try m.stream(data, split: .train, batch: batch, shuffle: true, augment: augment).batchesPerEpoch
    var total = try ctx.int("steps") ?? max(1, Int((epochs * Double(perEpoch)).rounded()))
    guard total >= 1 else { throw ctx.error("steps", "must be at least 1") }
    if ScriptSettings.fast { total = min(total, 4) }
    var s = TrainSettings()
    s.lr = Float(try ctx.number("lr", 1e-3))
    s.minLR = Float(try ctx.number("min_lr", 1e-6))
    s.warmup = ctx.given("warmup") ? min(try ctx.count("warmup", 0, min: 0), total) : TrainSettings.defaultWarmup(total)
    s.schedule = try ctx.string("schedule", "cosine")
    s.weightDecay = try ctx.number("weight_decay").map { Float($0) }
    s.mi = try ctx.number("mi").map { Float($0) }
    s.switchW = try ctx.number("switch").map { Float($0) }
    s.zW = try ctx.number("z").map { Float($0) }
    s.clip = try ctx.number("clip").map { Float($0) }
    if let w = try ctx.string("weighting") { s.weighting = TaskWeighting(rawValue: w) }
    else if m.model.config.tasks.contains(where: { $0.weight != 1 }) { s.weighting = .fixed }
    s.augment = augment
    let evalEach = try ctx.bool("eval", false)
    let ckptPath = try ctx.string("checkpoint")
    let saveEvery = try ctx.int("save_every")
    if let k = saveEvery, k < 1 { throw ctx.error("save_every", "must be at least 1") }
    if saveEvery != nil && ckptPath == nil { throw ctx.error("save_every", "needs checkpoint: a path to save to") }
    if let path = ckptPath { try prepareCheckpointFolder(ctx, path) }
    let stream = try m.stream(data, split: .train, batch: batch, shuffle: true, augment: augment)
    var done = 0
    if let r = try ctx.string("resume") {
        done = try resumeTraining(ctx, m, t, stream, from: r, total: total)
    }
    let start = Date(), firstStep = m.steps
    var last: StepLog? = nil
    var lastEval: Record? = nil
    let meter = ProgressMeter(ctx.output, label: label, total: total)
    while done < total {
        // the next chunk ends at an epoch boundary (eval), a checkpoint boundary, or the end
        var n = total - done
        if evalEach { n = min(n, perEpoch - done % perEpoch) }
        if let k = saveEvery { n = min(n, k - done % k) }
        s.offset = done; s.total = total
        let logs = try m.trainSteps(data, n: n, batch: batch, settings: s, registry: reg, meter: meter, startCount: done)
        done += n
        last = logs.last ?? last
        if evalEach && (done % perEpoch == 0 || done == total) {
            var limit: Int? = nil
            if ScriptSettings.fast { limit = 2 }
            let (metrics, count) = try m.evaluate(data, split: .test, batch: max(batch, 64), limit: limit, registry: reg, showProgress: nil)
            m.record(eval: EvalPoint(step: m.steps, split: "test", metrics: metrics))
            let r = metricsRecord(metrics, order: m.model.tasks, title: "epoch \((done + perEpoch - 1) / perEpoch) eval test (\(count) images)")
            ctx.output.write(r.summary + "\n")
            lastEval = r
        }
        if let path = ckptPath, Distributed.isRoot, done == total || (saveEvery.map { done % $0 == 0 } ?? false) {
            let url = ctx.interpreter.resolve(path.replacingOccurrences(of: "{step}", with: String(done)))
            try Checkpoint.save(m.model, trainer: t, loader: (stream.epoch, stream.position),
                                metadata: m.scriptMetadata.merging([trainDoneKey: String(done), trainTotalKey: String(total)]) { $1 }, to: url)
        }
    }
    let el = Date().timeIntervalSince(start)
    let r = Record("training", title: label)
    r.set("steps", .number(Double(m.steps - firstStep)))
    r.set("step", .number(Double(m.steps)))
    r.set("seconds", .number((el * 100).rounded() / 100))
    r.set("warmup", .number(Double(s.warmup)))
    if let l = last {
        r.set("loss", .number(Double(l.total)))
        for (tn, v) in l.taskLosses { r.set(tn, .number(Double(v))) }
        for (tn, v) in l.aux { r.set(tn, .number(Double(v))) }
    }
    if let e = lastEval { r.set("eval", .object(e)) }
    let ep = Double(m.steps - firstStep) / Double(perEpoch)
    var sum = "\(label): \(m.steps - firstStep) steps (\(formatNumber((ep * 100).rounded() / 100)) epoch\(ep == 1 ? "" : "s")) in \(formatDuration(el)), "
        + String(format: "%.2f it/s", Double(m.steps - firstStep) / max(el, 1e-9)) + ", warm-up \(s.warmup)"
    if let l = last {
        sum += String(format: "; loss %.4f", l.total)
        if !l.taskLosses.isEmpty { sum += " (" + l.taskLosses.map { "\($0.0) " + String(format: "%.4f", $0.1) }.joined(separator: " ") + ")" }
    }
    r.customSummary = sum
    return .object(r)
}

// Training and evaluation loops behind step/train/eval: the model's trainer and streams, a progress meter, Ctrl-C at step boundaries.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI
import SquadData

/// A one-line meter on a terminal (redrawn), plain lines at intervals otherwise.
final class ProgressMeter {
    let output: ScriptOutput
    let label: String
    let total: Int
    let start = Date()
    var lastDraw = Date.distantPast
    var lastPlain = Date()
    let every: Int

    init(_ output: ScriptOutput, label: String, total: Int) {
        self.output = output; self.label = label; self.total = total
        every = max(1, (total + 9) / 10)
    }

    func line(_ done: Int, _ log: StepLog?) -> String {
        let el = Date().timeIntervalSince(start)
        let rate = el > 0 ? Double(done) / el : 0
        var s = "\(label) \(done)/\(total)"
        if output.isTerminal {
            let w = 20, filled = total > 0 ? min(w, done * w / total) : w
            s += " [" + String(repeating: "#", count: filled) + String(repeating: ".", count: w - filled) + "]"
        }
        if let l = log {
            s += String(format: "  loss %.4f", l.total)
            if !l.taskLosses.isEmpty { s += " (" + l.taskLosses.map { "\($0.0) " + String(format: "%.4f", $0.1) }.joined(separator: " ") + ")" }
            for (n, v) in l.aux { s += "  \(n) " + String(format: "%.3g", v) }
        }
        s += String(format: "  %.2f it/s", rate)
        if done < total && rate > 0 { s += "  ETA " + formatDuration(Double(total - done) / rate) }
        else { s += "  " + formatDuration(el) }
        return s
    }

    func update(_ done: Int, _ log: StepLog?) {
        let now = Date()
        if output.isTerminal {
            if done == total || now.timeIntervalSince(lastDraw) > 0.1 { output.progress(line(done, log)); lastDraw = now }
        } else if done % every == 0 || done == total || now.timeIntervalSince(lastPlain) > 30 {
            output.write(line(done, log) + "\n"); lastPlain = now
        }
    }

    func finish() { if output.isTerminal { output.endProgress() } }
}

func formatDuration(_ s: Double) -> String {
    if s < 60 { return String(format: "%.1fs", s) }
    if s < 3600 { return "\(Int(s) / 60)m\(String(format: "%02d", Int(s) % 60))s" }
    return "\(Int(s) / 3600)h\(String(format: "%02d", (Int(s) % 3600) / 60))m"
}

/// What a training call changes in the trainer's options.
struct TrainSettings {
    var lr: Float? = nil, minLR: Float = 1e-6, warmup = 0, schedule = "cosine"
    var weightDecay: Float? = nil, mi: Float? = nil, switchW: Float? = nil, zW: Float? = nil, clip: Float? = nil
    var weighting: TaskWeighting? = nil
    /// Where this call's steps sit in the schedule: steps before them, and the schedule's length (default n).
    var offset = 0, total: Int? = nil
    /// Random horizontal flips of training batches.
    var augment = true

    /// Warm-up when a call names none: a fraction of its steps (at least 1).
    static let defaultWarmupFraction = 0.05
    static func defaultWarmup(_ total: Int) -> Int { min(total, max(1, Int((Double(total) * defaultWarmupFraction).rounded()))) }
}

extension ModelValue {
    /// The trainer (made and bound to plugins on first use; restores a loaded checkpoint's optimizer state).
    func ensureTrainer(_ registry: PluginRegistry) throws -> Trainer {
        if let t = trainer { return t }
        var opts = TrainOptions()
        if !usesMI { opts.miWeight = 0 }
        let t = Trainer(model, options: opts)
        try registry.bind(model, trainer: t, auxWeights: auxWeights)
        if let p = pendingRestore { try Checkpoint.restore(t, from: p.extra, step: p.step); pendingRestore = nil }
        trainer = t
        return t
    }

    /// Applies a call's settings; rebuilds the optimizer only when its shape changes.
    func apply(_ s: TrainSettings, to t: Trainer) {
        var o = t.options
        var rebuild = false
        if let v = s.weightDecay, v != o.weightDecay { o.weightDecay = v; rebuild = true }
        if let v = s.weighting, v != o.weighting { o.weighting = v; rebuild = true }
        if let v = s.mi { o.miWeight = v }
        if let v = s.switchW { o.switchWeight = v }
        if let v = s.zW { o.zWeight = v }
        if let v = s.clip { o.clipNorm = v }
        if let v = s.lr { o.lr = v }
        o.warmupSteps = 0; o.totalSteps = 0   // the call drives the schedule itself
        t.options = o
        if rebuild { t.rebuildOptimizer() }
    }

    /// The model's stream over a split; shuffled batches follow the model's seed, so runs with different seeds
    /// differ in data order as well as in initialisation.
    func stream(_ data: DatasetValue, split: DataSplit, batch: Int, shuffle: Bool, augment: Bool = false) throws -> BatchStream {
        let seed = model.config.seed
        let key = "\(ObjectIdentifier(data.dataset).hashValue)/\(split.rawValue)/\(batch)/\(shuffle)/\(augment)"
        if let s = streams[key] { return s }
        let s = try BatchStream(data, split: split, batchSize: batch, shuffle: shuffle, seed: seed, augment: augment)
        // Training streams under mpirun: every rank draws the same global batch order and keeps its shard.
        if shuffle && Distributed.isParallel { s.loader.shard = (Distributed.rank, Distributed.size) }
        streams[key] = s
        return s
    }

    /// Every task of the model must have targets in the data, or a plugin that derives them from the images.
    func checkTasks(_ data: DatasetValue) throws {
        guard !model.tasks.isEmpty else { throw ScriptError(.value, "the model has no tasks: attach one first", hint: "attach(m, \"depth\")") }
        let have = Set(data.dataset.taskNames)
        if let miss = model.config.tasks.first(where: { !have.contains($0.name) && $0.plugin == nil }) {
            throw ScriptError(.value, "task '\(miss.name)' of the model is not in dataset \(data.dataset.name) (it has \(data.dataset.taskNames.joined(separator: ", ")))")
        }
        // Labels the heads cannot take fail here, naming the sample's file and row, not at some batch index.
        if let lc = data.dataset as? LabelChecking {
            for spec in model.config.tasks { try lc.checkLabels(task: spec.name, classes: spec.channels) }
        }
    }

    /// The batch's targets plus those task plugins derive from the images (self-supervised tasks). Plugins get
    /// the images as the dataset gave them, in [0, 1] (the model's input `x` is normalised per channel).
    func completeTargets(_ x: Tensor, _ y: [String: TaskTarget], data: DatasetValue, registry: PluginRegistry) throws -> [String: TaskTarget] {
        var all = y
        var raw: Tensor? = nil
        for spec in model.config.tasks where all[spec.name] == nil {
            if raw == nil { raw = try DataLoader.denormalized(x, try data.normalization()) }
            if let p = spec.plugin, let t = try registry.task(p).derivedTarget(images: raw!, targets: y) { all[spec.name] = t; continue }
            throw ScriptError(.value, "task '\(spec.name)' of the model is not in dataset \(data.dataset.name) (it has \(data.dataset.taskNames.joined(separator: ", "))), and its plugin does not derive it")
        }
        return all
    }

    /// Runs `n` optimisation steps on the next batches. Stops at a step boundary on Ctrl-C.
    func trainSteps(_ data: DatasetValue, n: Int, batch: Int, settings: TrainSettings, registry: PluginRegistry,
                    meter: ProgressMeter?, startCount: Int = 0, each: ((StepLog) -> Void)? = nil) throws -> [StepLog] {
        try checkTasks(data)
        if Distributed.isParallel && batch % Distributed.size != 0 {
            throw ScriptError(.value, "\(DistributedError.batch(global: batch, ranks: Distributed.size))")
        }
        let t = try ensureTrainer(registry)
        apply(settings, to: t)
        t.trainTasks = onlyTasks
        // Rank 0's weights (initial, or a loaded or resumed checkpoint's) on every rank.
        if Distributed.isParallel {
            try Distributed.broadcast(model.parameters().map(\.tensor) + t.sigma.keys.sorted().map { t.sigma[$0]! })
        }
        let base = settings.lr ?? t.options.lr
        let s = try stream(data, split: .train, batch: batch, shuffle: true, augment: settings.augment)
        var logs: [StepLog] = []
        defer { meter?.finish() }
        let length = settings.total ?? n
        for i in 0..<n {
            let at = settings.offset + i
            switch settings.schedule {
            case "constant": t.options.lr = at < settings.warmup ? base * Float(at + 1) / Float(settings.warmup) : base
            default: t.options.lr = WarmupCosineLR(base: base, warmup: settings.warmup, total: length, minLR: min(settings.minLR, base)).lr(at: at)
            }
            let began = Date()
            defer { trainSeconds += Date().timeIntervalSince(began) }
            let (x, y0) = try s.next()
            let y = try completeTargets(x, y0, data: data, registry: registry)
            // A non-finite step is skipped by the trainer with the weights untouched (and shown);
            // after several in a row it throws, keeping the last good weights.
            let log: StepLog
            do { log = try t.trainStep(x, y) } catch let e as TrainingError {
                t.options.lr = base
                throw ScriptError(.runtime, "\(e)", hint: "lower lr or set clip")
            }
            if log.skipped != nil { meter?.output.write(log.description + "\n") }
            record(log); logs.append(log)
            StepTrace.write(log)
            each?(log)
            meter?.update(startCount + i + 1, log)
            if ScriptInterrupt.take() {
                meter?.finish()
                t.options.lr = base
                throw ScriptError(.interrupted, "stopped after step \(log.step) (\(startCount + i + 1) of \(settings.total ?? n) in this call); the model keeps its trained weights")
            }
        }
        t.options.lr = base
        return logs
    }

    /// Task metrics of one batch (plugin metrics when the task has a plugin).
    func batchMetrics(_ x: Tensor, _ y: [String: TaskTarget], registry: PluginRegistry) throws -> [String: [Metric]] {
        model.eval()
        defer { model.train() }
        let out = try Autograd.noGrad { try model(x, tasks: model.tasks) }
        var res: [String: [Metric]] = [:]
        for task in model.tasks {
            guard let pred = out.predictions[task], let target = y[task] else { continue }
            let spec = try model.spec(task)
            if let p = spec.plugin { res[task] = try PluginBoundary.metrics(registry.task(p), pred, target) }
            else { res[task] = try Metrics.compute(spec, pred, target) }
        }
        return res
    }

    /// Metrics over a split (all of it, or `limit` batches).
    func evaluate(_ data: DatasetValue, split: DataSplit, batch: Int, limit: Int?, registry: PluginRegistry, showProgress: ScriptOutput?) throws -> (metrics: [String: [Metric]], samples: Int) {
        try checkTasks(data)
        let s = try BatchStream(data, split: split, batchSize: batch, shuffle: false, seed: 0)
        let n = min(limit ?? Int.max, s.batchesPerEpoch)
        let meter = showProgress.map { ProgressMeter($0, label: "eval", total: n) }
        var per: [String: [([Metric], Int)]] = [:]
        var samples = 0
        defer { meter?.finish() }
        // Under mpirun, batch i is evaluated by rank i mod N and the metric sums are all-reduced
        // (when there are fewer batches than ranks, every rank evaluates all of them).
        let ranks = n >= Distributed.size ? Distributed.size : 1
        for i in 0..<n {
            if ranks > 1 {
                guard i % ranks == Distributed.rank else { continue }
                s.loader.seek(epoch: 0, position: i)
            }
            let (x, y) = try s.next()
            let b = x.shape[0]
            samples += b
            for (t, ms) in try batchMetrics(x, try completeTargets(x, y, data: data, registry: registry), registry: registry) { per[t, default: []].append((ms, b)) }
            meter?.update(i + 1, nil)
            if ScriptInterrupt.take() { throw ScriptError(.interrupted, "evaluation stopped after \(i + 1) of \(n) batches") }
        }
        guard ranks > 1 else { return (per.mapValues { Metrics.average($0) }, samples) }
        return try allReducedMetrics(per, samples: samples)
    }

    /// Metric sums (value × batch size) and sample counts over the ranks, in the model's task order.
    func allReducedMetrics(_ per: [String: [([Metric], Int)]], samples: Int) throws -> (metrics: [String: [Metric]], samples: Int) {
        let tasks = model.tasks.filter { per[$0] != nil }
        var flat: [Double] = [Double(samples), Double(tasks.count)]
        for t in tasks {
            let rows = per[t]!
            flat.append(Double(rows.reduce(0) { $0 + $1.1 }))
            for i in rows[0].0.indices { flat.append(rows.reduce(0.0) { $0 + $1.0[i].value * Double($1.1) }) }
        }
        let shape = try Distributed.sum([Double(flat.count)])[0]
        guard shape == Double(flat.count * Distributed.size) else {
            throw ScriptError(.runtime, "rank \(Distributed.rank): evaluation metrics differ in number between ranks")
        }
        let sums = try Distributed.sum(flat)
        var out: [String: [Metric]] = [:], o = 2
        for t in tasks {
            let first = per[t]![0].0, w = max(sums[o], 1)
            out[t] = first.indices.map { Metric(first[$0].name, sums[o + 1 + $0] / w, higherIsBetter: first[$0].higherIsBetter) }
            o += 1 + first.count
        }
        return (out, Int(sums[0]))
    }
}

/// A metrics record: one field per task, each a record of metric values.
func metricsRecord(_ m: [String: [Metric]], order: [String], title: String) -> Record {
    let r = Record("metrics", title: title)
    var parts: [String] = []
    for t in order {
        guard let ms = m[t] else { continue }
        let row = Record("metrics", title: t, fields: ms.map { ($0.name, .number($0.value)) })
        for m in ms { row.higherIsBetter[m.name] = m.higherIsBetter }
        r.set(t, .object(row))
        parts.append("\(t) " + ms.map { "\($0.name) " + String(format: "%.4g", $0.value) }.joined(separator: " "))
    }
    r.customSummary = title + (parts.isEmpty ? "" : ": " + parts.joined(separator: " | "))
    return r
}

/// Metrics back from a record made by `metricsRecord` (for Δm).
func metricsFromRecord(_ r: Record) -> [String: [Metric]] {
    var out: [String: [Metric]] = [:]
    for (task, v) in r.fields {
        guard case .object(let row as Record) = v else { continue }
        out[task] = row.fields.compactMap { name, v in
            guard case .number(let d) = v else { return nil }
            return Metric(name, d, higherIsBetter: row.higherIsBetter[name] ?? higherIsBetter(name))
        }
    }
    return out
}

/// Direction of a metric by name (records keep values only).
func higherIsBetter(_ metric: String) -> Bool {
    let lower = ["mae", "rmse", "mean_angle", "abs_rel", "loss", "mse", "error", "angle"]
    return !lower.contains { metric.lowercased().contains($0) }
}

/// `MSQ_STEP_LOG=file`: one JSON line per training step (loss terms at full precision), written by rank 0,
/// for comparing runs (the data-parallel equality tests) without parsing the progress meter.
enum StepTrace {
    static let path = ProcessInfo.processInfo.environment["MSQ_STEP_LOG"]
    static func write(_ log: StepLog) {
        guard let p = path, Distributed.isRoot else { return }
        var fields = ["\"step\": \(log.step)", "\"loss\": " + String(format: "%.9g", log.total)]
        for (n, v) in log.taskLosses + log.aux { fields.append("\"\(n)\": " + String(format: "%.9g", v)) }
        let line = "{" + fields.joined(separator: ", ") + "}\n"
        guard let h = FileHandle(forWritingAtPath: p) ?? (FileManager.default.createFile(atPath: p, contents: nil) ? FileHandle(forWritingAtPath: p) : nil) else { return }
        h.seekToEndOfFile(); h.write(Data(line.utf8)); h.closeFile()
    }
}

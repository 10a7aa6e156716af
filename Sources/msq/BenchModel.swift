// msq bench train|infer: the PyTorch reference's configs (a: E 8, k 2; b: E 16,
// k 4; vit: dense) with the same analytic FLOP count, timed as medians after
// warm-up, with GFLOP/s and peak RSS.
import Foundation
import SquadTensor
import SquadNN
import ModSquad

enum BenchModel {
    struct Setup {
        var name: String
        var config: SquadConfig
        var experts: Int, topK: Int
        var dense: Bool
        var batch = 32
    }

    static let taskSpecs = [TaskSpec("depth", kind: .dense, channels: 1, loss: .l1),
                            TaskSpec("seg", kind: .dense, channels: 5, loss: .crossEntropy),
                            TaskSpec("cls", kind: .global, channels: 10, loss: .crossEntropy),
                            TaskSpec("reg", kind: .global, channels: 1, loss: .mse)]

    /// The reference's model flags: img 32, patch 4, D 192, depth 6, 6 heads × 32, experts with 6 heads
    /// of 32 over shared K/V (with q/o biases), expert MLP hidden 4D/2, renormalised top-k, T 4, B 32.
    static func setup(_ name: String, experts: Int? = nil, topK: Int? = nil) throws -> Setup {
        var c = SquadConfig()
        c.image = 32; c.patch = 4; c.channels = 3; c.dim = 192; c.depth = 6; c.heads = 6; c.attentionHeadDim = 32
        c.moaHeadsPerExpert = 6; c.moaHeadDim = 32; c.moaExpertBias = true; c.moeHidden = 384; c.mlpRatio = 4
        c.gate = GateOptions(topK: 2, renormalize: true)
        c.taskEmbedding = false
        c.tasks = taskSpecs
        var e: Int, k: Int
        switch name {
        case "a": (e, k) = (8, 2)
        case "b": (e, k) = (16, 4)
        case "vit": (e, k) = (0, 0)
        default: throw CommandError("bench: unknown config '\(name)' (a, b, vit)")
        }
        if name != "vit" {   // --experts / --top-k override the config's (the reference's --experts / --k)
            e = experts ?? e; k = topK ?? k
            guard k >= 1, k <= e else { throw CommandError("bench: --top-k \(k) must be within 1...\(e) experts") }
        }
        c.blocks = try SquadConfig.layout(name == "vit" ? "dense" : "both", depth: 6, attentionExperts: max(e, 1),
                                          attentionTopK: max(k, 1), mlpExperts: max(e, 1), mlpTopK: max(k, 1))
        return Setup(name: name, config: c, experts: e, topK: k, dense: name == "vit")
    }

    /// The reference's analytic_flops: matmul-like ops, 2 FLOPs per multiply-add; training = 3× forward − stem.
    static func flops(_ s: Setup) -> (trainStep: Double, inferOneTask: Double) {
        let c = s.config, d = Double(c.dim), t = Double(c.tasks.count), b = Double(s.batch), p = Double(c.patch)
        let np = Double((c.image / c.patch) * (c.image / c.patch)), n = np
        let stem = 2 * b * np * (3 * p * p) * d
        func head(_ i: Int) -> Double {
            switch i % 4 { case 0: return 2 * b * np * d * p * p
            case 1: return 2 * b * np * d * p * p * 5
            case 2: return 2 * b * d * 10
            default: return 2 * b * d }
        }
        let heads = (0..<c.tasks.count).reduce(0.0) { $0 + head($1) }
        let m = b * n
        if s.dense {
            let fh = Double(c.heads * c.attentionHeadDim)
            let perLayer = 2 * m * d * 3 * fh + 2 * 2 * b * Double(c.heads) * n * n * Double(c.attentionHeadDim) + 2 * m * fh * d + 2 * m * d * 4 * d * 2
            let backbone = Double(c.depth) * perLayer
            let fwd = stem + backbone + heads
            return (3 * fwd - stem, stem + backbone + head(0))
        }
        let fh = Double(c.moaHeadsPerExpert * c.moaHeadDim), h = Double(c.moeHidden), e = Double(s.experts), k = Double(s.topK)
        let perLayer = 2 * m * d * e + 2 * m * d * e + 2 * m * d * 2 * fh + 2 * m * k * d * fh
            + 2 * 2 * b * Double(c.moaHeadsPerExpert) * (n * k) * n * Double(c.moaHeadDim) + 2 * m * k * fh * d + 2 * m * k * 2 * d * h
        let backbone = Double(c.depth) * perLayer
        let fwd = stem + t * backbone + heads
        return (3 * fwd - stem, stem + backbone + head(0))
    }

    static func batch(_ s: Setup, rng: inout RNG) -> (Tensor, [String: TaskTarget]) {
        let b = s.batch, img = s.config.image
        let x = Tensor.normal([b, 3, img, img], rng: &rng)
        var y: [String: TaskTarget] = [:]
        y["depth"] = .values(Tensor.uniform([b, 1, img, img], rng: &rng))
        y["seg"] = .labels((0..<(b * img * img)).map { _ in rng.int(below: 5) })
        y["cls"] = .labels((0..<b).map { _ in rng.int(below: 10) })
        y["reg"] = .values(Tensor.normal([b, 1], rng: &rng))
        return (x, y)
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
    }

    static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// Resident set size now, from /proc/self/statm.
    static func currentRSSMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
        let f = s.split(separator: " ")
        guard f.count > 1, let pages = Double(f[1]) else { return .nan }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1048576
    }

    /// A long training loop on a small squad, printing RSS at intervals: it must stay flat.
    static func memory(_ o: BenchOptions) throws -> [[String: Any]] {
        Engine.threads = o.threads
        var c = SquadConfig()
        c.image = 16; c.patch = 4; c.channels = 3; c.dim = 32; c.depth = 2; c.heads = 2; c.attentionHeadDim = 16
        c.moaHeadDim = 16; c.moeHidden = 64; c.mlpRatio = 2
        c.blocks = try SquadConfig.layout("both", depth: 2, attentionExperts: 4, attentionTopK: 2, mlpExperts: 4, mlpTopK: 2)
        c.tasks = [TaskSpec("depth", kind: .dense, channels: 1, loss: .l1), TaskSpec("cls", kind: .global, channels: 10, loss: .crossEntropy)]
        let m = try SquadModel(c)
        let tr = Trainer(m)
        var rng = RNG(seed: 3)
        let steps = o.reps, every = max(1, steps / 10)
        var samples: [(Int, Double)] = []
        let t0 = now()
        for i in 1...steps {
            let x = Tensor.normal([16, 3, 16, 16], rng: &rng)
            let y: [String: TaskTarget] = ["depth": .values(Tensor.uniform([16, 1, 16, 16], rng: &rng)),
                                           "cls": .labels((0..<16).map { _ in rng.int(below: 10) })]
            try tr.trainStep(x, y)
            if i % every == 0 || i == 1 {
                let r = currentRSSMiB()
                samples.append((i, r))
                if !o.json { print(String(format: "step %5d  RSS %.1f MiB  pool fresh allocations %d  %.0f steps/s", i, r, BufferPool.shared.statistics.freshAllocations, Double(i) / (now() - t0))) }
            }
        }
        let after = samples.filter { $0.0 >= every }.map(\.1)
        let growth = (after.last ?? 0) - (after.first ?? 0)
        if !o.json { print(String(format: "RSS from step %d to %d: %.1f → %.1f MiB (%+.1f MiB)", every, steps, after.first ?? .nan, after.last ?? .nan, growth)) }
        return [["bench": "memory", "steps": steps, "rss_mib": samples.map { [$0.0, $0.1] }, "growth_mib": growth]]
    }

    static func run(mode: String, _ o: BenchOptions) throws -> [[String: Any]] {
        let s = try setup(o.config, experts: o.experts, topK: o.topK)
        Engine.threads = o.threads
        // --checkpoint: a saved model (full or extracted) in a fresh process, for its own peak RSS.
        let model = try o.checkpoint.map { try Checkpoint.load(URL(fileURLWithPath: $0)).model } ?? SquadModel(s.config)
        var rng = RNG(seed: 1)
        let (x, y) = batch(s, rng: &rng)
        var opts = TrainOptions()
        opts.lr = 1e-4; opts.weightDecay = 0.05; opts.miWeight = 0.001
        let fl = flops(s)
        var times: [Double] = [], cpu: [Double] = []
        var label = mode
        var params = model.parameterCount
        if mode == "train" {
            let tr = Trainer(model, options: opts)
            for i in 0..<(o.warmup + o.reps) {
                if i == o.warmup { Profiler.shared.reset(); perfControl("enable") }
                Profiler.shared.mark()
                let t0 = now(), c0 = cpuSeconds()
                try tr.trainStep(x, y)
                if i >= o.warmup { times.append(now() - t0); cpu.append(cpuSeconds() - c0) }
                if ProcessInfo.processInfo.environment["MSQ_POOL_DEBUG"] != nil {
                    let st = BufferPool.shared.statistics
                    print("step \(i): fresh \(st.freshAllocations) reused \(st.reused) held \(st.bytesHeld >> 20) MiB")
                }
            }
        } else {
            model.eval()
            if o.checkpoint != nil { label = "infer (checkpoint)" }
            var m = model
            if o.extracted {
                // Specialise first: a few steps with a strong MI weight, then usage from one pass.
                var so = opts; so.miWeight = 1; so.lr = 1e-3
                let tr = Trainer(model, options: so)
                for _ in 0..<10 { try tr.trainStep(x, y) }
                model.eval()
                model.usage.reset()
                let out = try Autograd.noGrad { try model(x) }
                model.usage.update(out.records)
                let (small, report) = try model.extract(task: "depth")
                if !o.json { print(report) }
                m = small; label = "infer (extracted depth)"; params = small.parameterCount
                if let dir = o.save {   // both models, for `--checkpoint` runs in fresh processes
                    let d = URL(fileURLWithPath: dir)
                    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
                    try Checkpoint.save(model, to: d.appendingPathComponent("full.safetensors"))
                    try Checkpoint.save(small, to: d.appendingPathComponent("extracted.safetensors"))
                    if !o.json { print("saved \(dir)/full.safetensors and \(dir)/extracted.safetensors") }
                }
                m.eval()
            }
            for i in 0..<(o.warmup + o.reps) {
                if i == o.warmup { perfControl("enable") }
                let t0 = now(), c0 = cpuSeconds()
                _ = try Autograd.noGrad { try m(x, tasks: ["depth"]) }
                if i >= o.warmup { times.append(now() - t0); cpu.append(cpuSeconds() - c0) }
            }
        }
        perfControl("disable")
        let med = median(times), gf = (mode == "train" ? fl.trainStep : fl.inferOneTask) / 1e9
        if Profiler.shared.enabled && mode == "train" && !o.json { print(Profiler.shared.table(steps: o.reps)) }
        let rss = peakRSSMiB()
        if !o.json {
            let ek = s.dense ? "dense" : "E \(s.experts), k \(s.topK)"
            print("config \(s.name) (\(ek)) \(label): \(params) params, threads \(o.threads), \(o.reps) steps after \(o.warmup) warm-up")
            print(String(format: "  median %.4f s  min %.4f  max %.4f  (CPU %.3f s)  |  %.2f GFLOP/step  %.1f GFLOP/s  |  peak RSS %.0f MiB",
                         med, times.min() ?? .nan, times.max() ?? .nan, median(cpu), gf, gf / med, rss))
        }
        return [["bench": mode, "config": s.name, "extracted": o.extracted, "threads": o.threads, "params": params,
                 "median_s": med, "cpu_s": median(cpu), "min_s": times.min() ?? 0, "max_s": times.max() ?? 0, "gflop": gf,
                 "gflops_per_s": gf / med, "peak_rss_mib": rss, "times": times]]
    }

    /// Under `perf record --control fifo:PATH -D -1` (bench/profile.sh), MSQ_PERF_CONTROL names
    /// that fifo: sampling is enabled after warm-up and disabled before teardown.
    static func perfControl(_ command: String) {
        guard let path = ProcessInfo.processInfo.environment["MSQ_PERF_CONTROL"],
              let h = FileHandle(forWritingAtPath: path) else { return }
        h.write(Data((command + "\n").utf8))
        try? h.close()
    }
}

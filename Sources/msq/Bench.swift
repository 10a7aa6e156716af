// msq bench: engine benchmarks, reported as medians (this machine is shared):
// gemm GFLOP/s (sgemm, attention's small products, one MoA layer), and elementwise
// kernels in ns per element at 1 and N threads.
import Foundation
import SquadTensor
import ModSquad

struct BenchOptions {
    var threads = Engine.threads
    var size = 512
    var reps = 7
    var json = false
    var config = "a"
    var warmup = 3
    var extracted = false
    var checkpoint: String? = nil, save: String? = nil
    var experts: Int? = nil, topK: Int? = nil
    var rest: [String] = []

    init(_ args: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw CommandError("option \(args[i - 1]) needs a value") }
            return args[i]
        }
        func int(_ name: String) throws -> Int {
            let v = try value()
            guard let n = Int(v), n > 0 else { throw CommandError("\(name) expects a positive integer, got '\(v)'") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--threads": threads = try int("--threads")
            case "--size": size = try int("--size")
            case "--reps", "--steps": reps = try int(args[i])
            case "--json": json = true
            case "--config": config = try value()
            case "--warmup": warmup = try int("--warmup")
            case "--extracted": extracted = true
            case "--checkpoint": checkpoint = try value()
            case "--save": save = try value()
            case "--experts": experts = try int("--experts")
            case "--top-k": topK = try int("--top-k")
            default:
                if args[i].hasPrefix("--") { throw CommandError("unknown option \(args[i])") }
                rest.append(args[i])
            }
            i += 1
        }
        if save != nil && !extracted { throw CommandError("--save DIR saves the full and the extracted model: it needs --extracted") }
    }
}

struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

@inline(__always) func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Runs `body` once to warm up, then `reps` times; returns the seconds of each run.
func timeRuns(_ reps: Int, _ body: () throws -> Void) rethrows -> [Double] {
    try body()
    var out: [Double] = []
    for _ in 0..<reps { let t0 = now(); try body(); out.append(now() - t0) }
    return out
}

enum Bench {
    static func run(_ args: [String]) throws -> Int32 {
        let opts = try BenchOptions(args)
        guard let what = opts.rest.first else { throw CommandError("bench: say what to run: gemm | kernels | train | infer | memory | allreduce") }
        var rows: [[String: Any]] = []
        switch what {
        case "gemm": rows = try gemm(opts)
        case "kernels": rows = try kernels(opts)
        case "memory":
            var o = opts
            if !args.contains("--steps") && !args.contains("--reps") { o.reps = 1000 }
            rows = try BenchModel.memory(o)
        case "allreduce":
            var o = opts
            if !args.contains("--steps") && !args.contains("--reps") { o.reps = 20 }
            rows = try Parallel.benchAllReduce(o, configs: args.contains("--config") ? [opts.config] : ["a", "b"])
        case "train", "infer":
            var o = opts
            if !args.contains("--steps") && !args.contains("--reps") { o.reps = what == "train" ? 10 : 20 }
            rows = try BenchModel.run(mode: what, o)
        default: throw CommandError("bench: unknown benchmark '\(what)' (gemm, kernels, train, infer, memory, allreduce)")
        }
        if opts.json && Distributed.isRoot {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        return 0
    }

    static func header() {
        print("# OpenBLAS core \(BLAS.coreName), \(ProcessInfo.processInfo.activeProcessorCount) cores")
    }

    static func gemm(_ o: BenchOptions) throws -> [[String: Any]] {
        if !o.json { header() }
        let n = o.size
        var rng = RNG(seed: 1)
        let a = Tensor.uniform([n, n], -1, 1, rng: &rng), b = Tensor.uniform([n, n], -1, 1, rng: &rng)
        let c = Tensor(uninitialized: [n, n])
        var rows: [[String: Any]] = []
        let threadCounts = Array(Set([1, o.threads])).sorted()
        for t in threadCounts {
            Engine.threads = t
            let times = timeRuns(o.reps) {
                BLAS.sgemm(transA: false, transB: false, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
            }
            let flops = 2.0 * Double(n * n * n)
            let g = flops / median(times) / 1e9
            if !o.json {
                print(String(format: "sgemm %d³  threads %d  median %.3f ms  %.1f GFLOP/s (best %.1f)", n, t, median(times) * 1e3, g, flops / times.min()! / 1e9))
            }
            rows.append(["bench": "gemm", "size": n, "threads": t, "median_s": median(times), "gflops": g])
        }
        Engine.threads = o.threads
        // Attention's small products (one head of config a: 128 queries, 64 keys, d 32), one thread:
        // the register-tiled MicroGEMM beside a cblas_sgemm call on the same operands.
        for (m, nn, k) in [(128, 64, 32), (128, 32, 64)] {
            let x = Tensor.uniform([m, k], -1, 1, rng: &rng), y = Tensor.uniform([k, nn], -1, 1, rng: &rng)
            let z = Tensor(uninitialized: [m, nn])
            let calls = 2_000, flops = 2.0 * Double(m * nn * k) * Double(calls)
            let micro = timeRuns(o.reps) {
                for _ in 0..<calls { MicroGEMM.gemm(m: m, n: nn, k: k, a: x.data, ars: k, acs: 1, b: y.data, ldb: nn, c: z.data, ldc: nn, accumulate: false) }
            }
            let blas = timeRuns(o.reps) {
                for _ in 0..<calls { BLAS.sgemm(transA: false, transB: false, m: m, n: nn, k: k, a: x.data, lda: k, b: y.data, ldb: nn, beta: 0, c: z.data, ldc: nn) }
            }
            let gm = flops / median(micro) / 1e9, gb = flops / median(blas) / 1e9
            if !o.json { print(String(format: "small %dx%dx%d  thread 1  MicroGEMM %.1f GFLOP/s  sgemm %.1f GFLOP/s", m, nn, k, gm, gb)) }
            rows.append(["bench": "gemm-small", "m": m, "n": nn, "k": k, "micro_gflops": gm, "sgemm_gflops": gb])
        }
        // One MoA layer of config a (4 tasks × 32 images, 6 heads of 32, 128 expert queries over 64
        // keys), forward alone and forward + backward, on the engine's threads.
        let (g, nq, nk, h, d) = (128, 128, 64, 6, 32)
        let q = Tensor.uniform([g, nq, h * d], -1, 1, rng: &rng), kv = Tensor.uniform([g, nk, 2 * h * d], -1, 1, rng: &rng)
        let flops = 2.0 * 2 * Double(g * h * nq * nk * d)
        let fwd = try Autograd.noGrad { try timeRuns(o.reps) { _ = try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: h * d, heads: h, headDim: d) } }
        q.requiresGrad = true; kv.requiresGrad = true
        let both = try timeRuns(o.reps) {
            q.grad = nil; kv.grad = nil
            let out = try Tensor.headAttention(q: q, k: kv, v: kv, vOffset: h * d, heads: h, headDim: d)
            try out.backward(seed: Tensor(repeating: 1, shape: out.shape))
            Autograd.reset()
        }
        let gf = flops / median(fwd) / 1e9, gb = 3 * flops / median(both) / 1e9
        if !o.json {
            print(String(format: "attention (config a layer)  threads %d  forward %.1f ms %.1f GFLOP/s  forward+backward %.1f ms %.1f GFLOP/s",
                         o.threads, median(fwd) * 1e3, gf, median(both) * 1e3, gb))
        }
        rows.append(["bench": "attention", "threads": o.threads, "forward_s": median(fwd), "forward_backward_s": median(both),
                     "forward_gflops": gf, "forward_backward_gflops": gb])
        return rows
    }

    static func kernels(_ o: BenchOptions) throws -> [[String: Any]] {
        if !o.json { header() }
        let n = 10_000_000
        var rng = RNG(seed: 2)
        let x = Tensor.uniform([n / 1000, 1000], -4, 4, rng: &rng)
        let y = Tensor.uniform([n / 1000, 1000], -4, 4, rng: &rng)
        var rows: [[String: Any]] = []
        let kernels: [(String, () throws -> Tensor)] = [
            ("gelu", { x.gelu() }),
            ("softmax(rows of 1000)", { try x.softmax() }),
            ("exp", { x.exp() }),
            ("add", { try x.add(y) }),
            ("layerNorm(rows of 1000)", { try x.layerNorm(Tensor(repeating: 1, shape: [1000]), Tensor(zeros: [1000])) }),
        ]
        for (name, f) in kernels {
            for t in Array(Set([1, o.threads])).sorted() {
                Engine.threads = t
                let times = try Autograd.noGrad { try timeRuns(o.reps) { _ = try f() } }
                let ns = median(times) / Double(n) * 1e9
                if !o.json { print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: " threads %d  %.3f ns/element  (%.1f ms)", t, ns, median(times) * 1e3)) }
                rows.append(["bench": "kernel", "kernel": name, "threads": t, "ns_per_element": ns, "median_s": median(times)])
            }
        }
        Engine.threads = o.threads
        return rows
    }
}

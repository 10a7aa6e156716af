// msq example: trains a small ViT on a generated toy task (which quadrant holds
// the bright square) and reports loss and accuracy: the engine's end-to-end run.
import Foundation
import SquadTensor
import SquadNN

enum Example {
    /// Images [B, 1, S, S] with a bright 4×4 square in one quadrant over noise; label = quadrant.
    static func batch(_ b: Int, size s: Int, rng: inout RNG) -> (Tensor, [Int]) {
        let x = Tensor(uninitialized: [b, 1, s, s])
        var labels: [Int] = []
        for i in 0..<b {
            let q = rng.int(below: 4)
            labels.append(q)
            let img = x.data + i * s * s
            for j in 0..<(s * s) { img[j] = 0.3 * (rng.uniform() - 0.5) }
            let half = s / 2
            let oy = (q / 2) * half + rng.int(below: half - 3), ox = (q % 2) * half + rng.int(below: half - 3)
            for dy in 0..<4 { for dx in 0..<4 { img[(oy + dy) * s + ox + dx] += 1 } }
        }
        return (x, labels)
    }

    static func run(_ args: [String]) throws -> Int32 {
        var steps = 150, batchSize = 32
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--steps": i += 1; guard i < args.count, let v = Int(args[i]), v > 0 else { throw CommandError("--steps expects a positive integer") }; steps = v
            case "--batch": i += 1; guard i < args.count, let v = Int(args[i]), v > 0 else { throw CommandError("--batch expects a positive integer") }; batchSize = v
            default: throw CommandError("example: unknown option \(args[i]) (--steps N, --batch N)")
            }
            i += 1
        }
        var rng = RNG(seed: 0)
        let model = try ViTClassifier(image: 16, patch: 4, channels: 1, dim: 32, depth: 2, heads: 4, classes: 4, rng: &rng)
        let opt = AdamW(model.parameters(), lr: 3e-3, weightDecay: 0.05)
        let sched = WarmupCosineLR(base: 3e-3, warmup: 5, total: steps)
        print("example: ViT dim 32 depth 2 on 16×16 quadrant task, \(model.parameterCount) parameters, \(steps) steps of \(batchSize)")
        let t0 = now()
        for s in 0..<steps {
            let (x, y) = batch(batchSize, size: 16, rng: &rng)
            opt.lr = sched.lr(at: s)
            let loss = try model(x).crossEntropy(y)
            try loss.backward()
            if ProcessInfo.processInfo.environment["MSQ_DEBUG"] != nil {
                for p in model.parameters() { if let g = p.tensor.grad, g.array.contains(where: { !$0.isFinite }) { print("non-finite grad", p.name) } }
                for p in model.parameters() where p.tensor.array.contains(where: { !$0.isFinite }) { print("non-finite param", p.name) }
            }
            opt.step()
            model.zeroGrad()
            if s % 10 == 0 || s == steps - 1 {
                print(String(format: "step %4d  loss %.4f  lr %.2e  %.1f it/s", s, loss.scalar, opt.lr, Double(s + 1) / (now() - t0)))
            }
        }
        let (x, y) = batch(256, size: 16, rng: &rng)
        let logits = try Autograd.noGrad { try model(x) }
        var correct = 0
        for r in 0..<y.count {
            var best = 0
            for c in 1..<4 where logits.data[r * 4 + c] > logits.data[r * 4 + best] { best = c }
            if best == y[r] { correct += 1 }
        }
        print(String(format: "held-out accuracy %.1f%% on 256 images (chance 25%%)", 100 * Double(correct) / 256))
        return 0
    }
}

// Gating strategies: the paper's per-task top-k, noisy top-k, a task-conditioned
// shared router (M3ViT-like), dense softmax over all experts, and expert choice.
import SquadTensor
import ModSquad
import SquadPluginAPI

/// Top-k of p with the raw probabilities as gates (the authors').
func topKDecision(_ probs: Tensor, _ k: Int) throws -> GateDecision {
    let (vals, idx) = try probs.topk(k)
    return GateDecision(choices: idx, gates: try vals.reshaped([vals.count]))
}

final class TopKGating: GatingPlugin {
    let name = "topk"
    let summary = "per-task router, top-k of softmax, raw probabilities as gates (the paper)"
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision { try topKDecision(input.probs, input.topK) }
}

final class NoisyTopKGating: GatingPlugin {
    let name = "noisy_topk"
    let summary = "top-k after N(0, 1/E) noise on the logits in training (V-MoE style); clean in evaluation"
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        guard input.training else { return try topKDecision(input.probs, input.topK) }
        let e = input.logits.shape[1]
        let noise = Tensor.normal(input.logits.shape, std: 1 / Float(e), rng: &rng)
        let probs = try input.logits.add(noise).softmax() + 1e-4
        return try topKDecision(probs, input.topK)
    }
}

final class SharedRouterGating: GatingPlugin {
    let name = "shared"
    let summary = "one router for all tasks, conditioned by the task embedding (M3ViT-like), top-k"
    var sharedRouter: Bool { true }
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision { try topKDecision(input.probs, input.topK) }
}

final class DenseGating: GatingPlugin {
    let name = "dense"
    let summary = "every expert on every token, weighted by the full softmax (k = number of experts)"
    var usesAllExperts: Bool { true }
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        let e = input.probs.shape[1]
        guard input.topK == e else {
            throw PluginError.badArgument(owner: "gating dense", parameter: "top_k", message: "must equal the number of experts (\(e)), got \(input.topK)")
        }
        let r = input.probs.shape[0]
        return GateDecision(choices: (0..<(r * e)).map { $0 % e }, gates: try input.probs.reshaped([r * e]))
    }
}

/// Experts choose tokens: within each task segment, expert e takes the ⌈n·k/E⌉ rows with
/// the highest p(e); a row keeps its k best offers, and slots left empty are −1.
final class ExpertChoiceGating: GatingPlugin {
    let name = "expert_choice"
    let summary = "each expert picks its top tokens by probability (capacity n·k/E per task), rows keep up to k"
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision {
        let probs = input.probs, r = probs.shape[0], e = probs.shape[1], k = input.topK
        var offers = [[(Float, Int)]](repeating: [], count: r)
        for seg in input.segments {
            let cap = max(1, (seg.count * k + e - 1) / e)
            for ex in 0..<e {
                let rows = (seg.start..<(seg.start + seg.count)).sorted { probs.data[$0 * e + ex] > probs.data[$1 * e + ex] }
                for row in rows.prefix(cap) { offers[row].append((probs.data[row * e + ex], ex)) }
            }
        }
        var choices = [Int](repeating: -1, count: r * k), flat = [Int](repeating: 0, count: r * k)
        for row in 0..<r {
            let best = offers[row].sorted { $0.0 > $1.0 }.prefix(k)
            for (j, o) in best.enumerated() { choices[row * k + j] = o.1 }
            for j in 0..<k { flat[row * k + j] = row * e + (j < best.count ? choices[row * k + j] : 0) }
        }
        // gates: p of the chosen expert, 0 for empty slots (masked after the gather)
        let picked = try probs.reshaped([r * e]).gatherRows(flat)
        let mask = Tensor((0..<(r * k)).map { choices[$0] >= 0 ? 1 : 0 })
        return GateDecision(choices: choices, gates: try picked.mul(mask))
    }
}

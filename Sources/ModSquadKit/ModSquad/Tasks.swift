// Task specifications the model needs (name, dense or global, channels, loss),
// targets, and the two head kinds: per-patch linear (dense) and pooled (global).
import SquadTensor
import SquadNN

public enum TaskKind: String, Codable, Sendable {
    case dense     // a per-pixel map [B, C, H, W]
    case global    // one vector per image [B, C]
}

public enum TaskLoss: String, Codable, Sendable {
    case l1, mse, crossEntropy = "ce", cosine
}

/// What the model must know of a task; task plugins produce these.
public struct TaskSpec: Codable, Equatable, Sendable {
    public var name: String
    public var kind: TaskKind
    /// Output channels (dense) or classes / outputs (global).
    public var channels: Int
    public var loss: TaskLoss
    /// Loss weight when weighting is fixed.
    public var weight: Float
    /// The task plugin that defines its loss and metrics (nil: the built-in `loss` kind).
    public var plugin: String? = nil
    /// Hidden width of the optional upsampling decoder of a dense head (nil: the per-patch linear head).
    public var decoder: Int? = nil

    public init(_ name: String, kind: TaskKind, channels: Int, loss: TaskLoss, weight: Float = 1) {
        self.name = name; self.kind = kind; self.channels = channels; self.loss = loss; self.weight = weight
    }
}

/// A task's target for one batch.
public enum TaskTarget {
    /// Dense maps [B, C, H, W] or global values [B, C] (L1, MSE, cosine).
    case values(Tensor)
    /// Class indices: one per image (global) or per pixel, row-major [B·H·W] (dense).
    case labels([Int])
}

public enum TaskError: Error, CustomStringConvertible, Equatable {
    case unknownTask(String, known: [String])
    case badTarget(task: String, message: String)
    case duplicateTask(String)

    public var description: String {
        switch self {
        case let .unknownTask(n, known): return "unknown task '\(n)'; the model has: \(known.joined(separator: ", "))"
        case let .badTarget(t, m): return "task '\(t)': \(m)"
        case .duplicateTask(let n): return "task '\(n)' is already attached"
        }
    }
}

/// Head of a task: dense = per-patch Linear(D → p·p·C) reassembled into the map, or (spec.decoder set)
/// a small upsampling decoder; global = mean of patch tokens → LayerNorm → Linear.
public final class TaskHead: Module {
    public let spec: TaskSpec
    public let norm: LayerNorm?
    /// The per-patch (or pooled) projection; with a decoder, the decoder's input layer.
    public let proj: Linear
    public let decoder: UpsamplingDecoder?
    let patch: Int, grid: Int

    public init(_ spec: TaskSpec, dim: Int, patch: Int, grid: Int, rng: inout RNG) {
        self.spec = spec; self.patch = patch; self.grid = grid
        switch spec.kind {
        case .dense:
            norm = nil
            if let h = spec.decoder, h > 0 {
                let d = UpsamplingDecoder(dim: dim, hidden: h, channels: spec.channels, patch: patch, grid: grid, rng: &rng)
                decoder = d; proj = d.input
            } else {
                decoder = nil
                proj = Linear(dim, patch * patch * spec.channels, rng: &rng)
            }
        case .global:
            norm = LayerNorm(dim); decoder = nil
            proj = Linear(dim, spec.channels, rng: &rng)
        }
    }

    public override var children: [(String, Module)] {
        if let d = decoder { return [("decoder", d)] }
        var c: [(String, Module)] = []
        if let n = norm { c.append(("norm", n)) }
        c.append(("proj", proj))
        return c
    }

    /// Patch tokens [B, Np, D] -> [B, C, H, W] (dense) or [B, C] (global)
    public func callAsFunction(_ tokens: Tensor) throws -> Tensor {
        let b = tokens.shape[0]
        switch spec.kind {
        case .dense:
            if let d = decoder { return try d(tokens) }
            let c = spec.channels, p = patch, g = grid
            return try proj(tokens).reshaped([b, g, g, p, p, c]).permuted([0, 5, 1, 3, 2, 4]).reshaped([b, c, g * p, g * p])
        case .global:
            return try proj(norm!(tokens.mean(axis: 1)))
        }
    }

    /// The task's loss of a prediction against its target.
    public func loss(_ pred: Tensor, _ target: TaskTarget) throws -> Tensor {
        try TaskHead.loss(spec, pred, target)
    }

    public static func loss(_ spec: TaskSpec, _ pred: Tensor, _ target: TaskTarget) throws -> Tensor {
        switch (spec.loss, target) {
        case (.crossEntropy, .labels(let y)):
            if spec.kind == .global { return try pred.crossEntropy(y) }
            let b = pred.shape[0], c = pred.shape[1], hw = pred.count / max(b * c, 1)
            guard y.count == b * hw else { throw TaskError.badTarget(task: spec.name, message: "expected \(b * hw) pixel labels, found \(y.count)") }
            return try pred.reshaped([b, c, hw]).permuted([0, 2, 1]).reshaped([b * hw, c]).crossEntropy(y, ignoreIndex: -1)
        case (.l1, .values(let t)): return try pred.l1Loss(t)
        case (.mse, .values(let t)): return try pred.mseLoss(t)
        case (.cosine, .values(let t)):
            guard spec.kind == .dense else { return try pred.cosineLoss(t) }
            let b = pred.shape[0], c = pred.shape[1], hw = pred.count / max(b * c, 1)
            let p2 = try pred.reshaped([b, c, hw]).permuted([0, 2, 1])
            let t2 = try t.reshaped([b, c, hw]).permuted([0, 2, 1])
            return try p2.cosineLoss(t2)
        case (.crossEntropy, .values):
            throw TaskError.badTarget(task: spec.name, message: "cross-entropy needs class labels, got a value tensor")
        default:
            throw TaskError.badTarget(task: spec.name, message: "\(spec.loss.rawValue) loss needs a value tensor, got class labels")
        }
    }
}

/// A small upsampling decoder for dense heads: per-patch Linear(D → h) on the g×g grid, then for each ×2 step
/// (one ×p step when p is not a power of two) nearest upsampling and a 3×3 convolution h → h with GELU, then a
/// 3×3 convolution h → C at full resolution. Convolutions are gathers of the 3×3 neighbourhood (zero padded)
/// followed by one Linear(9·h → out), so every step has autograd through existing ops.
public final class UpsamplingDecoder: Module {
    public let input: Linear
    public let stages: [Linear]
    public let output: Linear
    public let hidden: Int, channels: Int, patch: Int, grid: Int
    let factor: Int

    public init(dim: Int, hidden: Int, channels: Int, patch: Int, grid: Int, rng: inout RNG) {
        self.hidden = hidden; self.channels = channels; self.patch = patch; self.grid = grid
        var steps = 0, p = max(patch, 1)
        while p > 1 && p % 2 == 0 { p /= 2; steps += 1 }
        factor = p == 1 ? 2 : max(patch, 1)
        if p != 1 { steps = 1 }
        input = Linear(dim, hidden, rng: &rng)
        stages = (0..<steps).map { _ in Linear(9 * hidden, hidden, rng: &rng) }
        output = Linear(9 * hidden, channels, rng: &rng)
    }

    public override var children: [(String, Module)] {
        [("input", input)] + stages.enumerated().map { ("up\($0.offset)", $0.element as Module) } + [("output", output)]
    }

    /// Patch tokens [B, g·g, D] -> [B, C, g·p, g·p]
    public func callAsFunction(_ tokens: Tensor) throws -> Tensor {
        let b = tokens.shape[0]
        var side = grid
        var x = try input(tokens).reshaped([b * side * side, hidden])
        for conv in stages {
            x = try UpsamplingDecoder.upsample(x, batch: b, side: side, factor: factor)
            side *= factor
            x = try UpsamplingDecoder.conv3x3(x, conv, batch: b, side: side).gelu()
        }
        let y = try UpsamplingDecoder.conv3x3(x, output, batch: b, side: side)
        return try y.reshaped([b, side, side, channels]).permuted([0, 3, 1, 2])
    }

    /// Nearest upsampling of pixel rows. [B·s·s, h] -> [B·(fs)·(fs), h]
    public static func upsample(_ x: Tensor, batch b: Int, side s: Int, factor f: Int) throws -> Tensor {
        let t = s * f
        var idx = [Int](repeating: 0, count: b * t * t)
        for i in 0..<b { for r in 0..<t { for c in 0..<t { idx[(i * t + r) * t + c] = (i * s + r / f) * s + c / f } } }
        return try x.gatherRows(idx)
    }

    /// 3×3 convolution with zero padding as a gather of neighbours and a Linear. [B·s·s, h] -> [B·s·s, out]
    public static func conv3x3(_ x: Tensor, _ lin: Linear, batch b: Int, side s: Int) throws -> Tensor {
        let n = b * s * s, h = x.shape[1]
        let padded = try Tensor.concat([x, Tensor(zeros: [1, h])], axis: 0)
        var idx = [Int](repeating: n, count: n * 9)
        for i in 0..<b { for r in 0..<s { for c in 0..<s {
            let row = (i * s + r) * s + c
            for k in 0..<9 {
                let rr = r + k / 3 - 1, cc = c + k % 3 - 1
                if rr >= 0 && rr < s && cc >= 0 && cc < s { idx[row * 9 + k] = (i * s + rr) * s + cc }
            }
        } } }
        return try lin(padded.gatherRows(idx).reshaped([n, 9 * h]))
    }
}

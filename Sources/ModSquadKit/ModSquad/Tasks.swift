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

/// Head of a task: dense = per-patch Linear(D → p·p·C) reassembled into the map;
/// global = mean of patch tokens → LayerNorm → Linear.
public final class TaskHead: Module {
    public let spec: TaskSpec
    public let norm: LayerNorm?
    public let proj: Linear
    let patch: Int, grid: Int

    public init(_ spec: TaskSpec, dim: Int, patch: Int, grid: Int, rng: inout RNG) {
        self.spec = spec; self.patch = patch; self.grid = grid
        switch spec.kind {
        case .dense:
            norm = nil
            proj = Linear(dim, patch * patch * spec.channels, rng: &rng)
        case .global:
            norm = LayerNorm(dim)
            proj = Linear(dim, spec.channels, rng: &rng)
        }
    }

    public override var children: [(String, Module)] {
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

// The language's model, dataset and block objects: a model carries its trainer, data streams and history so `step` continues where it stopped.
import Foundation
import SquadTensor
import SquadNN
import ModSquad
import SquadPluginAPI

/// Fast mode (MSQ_FAST=1): builtins shrink datasets, models and step counts so every notebook runs in seconds.
public enum ScriptSettings {
    nonisolated(unsafe) public static var fast: Bool = {
        let v = ProcessInfo.processInfo.environment["MSQ_FAST"] ?? ""
        return !v.isEmpty && v != "0" && v.lowercased() != "false"
    }()
}

public final class DatasetValue: ScriptObject {
    public let dataset: MultiTaskDataset
    public let source: String
    /// Normalisation statistics (computed on first use).
    var stats: (mean: [Float], std: [Float])?
    public init(_ dataset: MultiTaskDataset, source: String) { self.dataset = dataset; self.source = source }
    public var typeName: String { "dataset" }
    public var summary: String {
        let d = dataset
        return "\(d.name): \(d.count(.train)) train / \(d.count(.test)) test, \(d.channels)×\(d.imageSize)×\(d.imageSize), tasks \(d.taskNames.joined(separator: ", "))"
    }
    public var memberNames: [String] { ["name", "tasks", "train", "test", "size", "channels", "summary"] }
    public func member(_ name: String) throws -> Value? {
        switch name {
        case "name": return .string(dataset.name)
        case "tasks": return .list(dataset.taskNames.map { .string($0) })
        case "train": return .number(Double(dataset.count(.train)))
        case "test": return .number(Double(dataset.count(.test)))
        case "size": return .number(Double(dataset.imageSize))
        case "channels": return .number(Double(dataset.channels))
        case "summary": return .string(dataset.summary)
        default: return nil
        }
    }
}

/// One block of a squad layout, from `block(...)`.
public final class BlockValue: ScriptObject {
    public let spec: BlockSpec
    public init(_ spec: BlockSpec) { self.spec = spec }
    public var typeName: String { "block" }
    public var summary: String { "block " + describeBlock(spec) }
    public var memberNames: [String] { ["attn", "mlp"] }
    public func member(_ name: String) throws -> Value? {
        switch name {
        case "attn": if case let .moa(e, k) = spec.attention { return .string("moa \(e) top-\(k)") }; return .string("dense")
        case "mlp": if case let .moe(e, k) = spec.mlp { return .string("moe \(e) top-\(k)") }; return .string("dense")
        default: return nil
        }
    }
}

func describeBlock(_ b: BlockSpec) -> String {
    var a = "dense", m = "dense"
    if case let .moa(e, k) = b.attention { a = "MoA \(e)/top-\(k)" + (b.attentionHeadDim.map { " d\($0)" } ?? "") }
    if case let .moe(e, k) = b.mlp { m = "MoE \(e)/top-\(k)" + (b.mlpHidden.map { " h\($0)" } ?? "") }
    return "\(a) + \(m)"
}

/// An evaluation, kept for curves.
public struct EvalPoint {
    public let step: Int
    public let split: String
    public let metrics: [String: [Metric]]
}

/// A model in the language: the network, how it was made, and its training state.
public final class ModelValue: ScriptObject {
    public let model: SquadModel
    /// "squad", "vit", "mtl", "stl depth", "extracted depth", "loaded" ...
    public var label: String
    /// The trainer, made on first use; it keeps optimizer moments and the step count.
    public var trainer: Trainer?
    /// A checkpoint's optimizer state to restore into the trainer when it is made.
    var pendingRestore: (extra: [String: Tensor], step: Int)?
    /// Data streams by dataset, split and batch size: training continues where it stopped.
    var streams: [String: BatchStream] = [:]
    /// The input normalisation restored from a checkpoint (predict applies it to a user's images).
    var storedNormalization: (mean: [Float], std: [Float])?
    public private(set) var history: [StepLog] = []
    public private(set) var evals: [EvalPoint] = []
    /// Wall seconds spent in training steps (data, forward, backward, update), for cost tables.
    public internal(set) var trainSeconds: Double = 0
    /// Aux-loss plugins and their weights.
    var auxWeights: [String: Float] = [:]
    /// Whether the trainer adds the MI loss (baselines other than Mod-Squad do not).
    var usesMI = true
    public var trainsWithMILoss: Bool { usesMI }
    /// Set by a router-only transfer: training computes only these tasks' losses (cleared by attach and unfreeze).
    var onlyTasks: [String]?

    /// The variable it was first assigned to (set by the interpreter), for plots and tables that show several models.
    public var name: String?

    public init(_ model: SquadModel, label: String) { self.model = model; self.label = label }

    public var typeName: String { "model" }

    public var steps: Int { trainer?.step ?? pendingRestore?.step ?? 0 }

    public var summary: String {
        let c = model.config
        var moa = 0, moe = 0, moaE = 0, moaK = 0, moeE = 0, moeK = 0
        for b in c.blocks {
            if case let .moa(e, k) = b.attention { moa += 1; moaE = e; moaK = k }
            if case let .moe(e, k) = b.mlp { moe += 1; moeE = e; moeK = k }
        }
        var parts: [String] = []
        if moa > 0 { parts.append("\(moa) MoA ×\(moaE) top-\(moaK)") }
        if moe > 0 { parts.append("\(moe) MoE ×\(moeE) top-\(moeK)") }
        let experts = parts.isEmpty ? "dense" : parts.joined(separator: ", ")
        let tasks = model.tasks.isEmpty ? "no tasks" : "tasks " + model.tasks.joined(separator: ", ")
        var s = "\(label): \(c.depth) blocks (\(experts)), dim \(c.dim), \(formatCount(model.parameterCount)) params, \(tasks)"
        if steps > 0 { s += "; \(steps) steps trained" }
        if let last = history.last { s += String(format: ", last loss %.4f", last.total) }
        return s
    }

    public var memberNames: [String] {
        ["params", "tasks", "dim", "depth", "patch", "image", "blocks", "experts", "layers", "step", "loss", "kind", "usage", "config", "trainable"]
    }

    public func member(_ name: String) throws -> Value? {
        let c = model.config
        switch name {
        case "params": return .number(Double(model.parameterCount))
        case "trainable": return .number(Double(model.trainableParameters().reduce(0) { $0 + $1.tensor.count }))
        case "tasks": return .list(model.tasks.map { .string($0) })
        case "dim": return .number(Double(c.dim))
        case "depth": return .number(Double(c.depth))
        case "patch": return .number(Double(c.patch))
        case "image": return .number(Double(c.image))
        case "blocks": return .list(c.blocks.map { .string(describeBlock($0)) })
        case "experts":
            var n = 0
            for b in c.blocks {
                if case let .moa(e, _) = b.attention { n += e }
                if case let .moe(e, _) = b.mlp { n += e }
            }
            return .number(Double(n))
        case "layers": return .list(moeLayerNames(model).map { .string($0) })
        case "step": return .number(Double(steps))
        case "loss": return history.last.map { .number(Double($0.total)) } ?? Value.none
        case "kind": return .string(label)
        case "usage": return .object(usageRecord())
        case "config":
            let r = Record("config", title: "config")
            r.set("image", .number(Double(c.image))); r.set("patch", .number(Double(c.patch))); r.set("channels", .number(Double(c.channels)))
            r.set("dim", .number(Double(c.dim))); r.set("depth", .number(Double(c.depth))); r.set("heads", .number(Double(c.heads)))
            r.set("expert_hidden", .number(Double(c.moeHidden))); r.set("head_dim", .number(Double(c.moaHeadDim)))
            r.set("gate", .string(c.gate.strategy)); r.set("router", .string(c.gate.mode.rawValue))
            r.set("task_embedding", .bool(c.taskEmbedding)); r.set("seed", .number(Double(c.seed)))
            return .object(r)
        default: return nil
        }
    }

    /// Per MoE layer, each task's most used experts (usage %).
    func usageRecord() -> Record {
        let r = Record("usage", title: "usage")
        for layer in model.usage.layers {
            let row = Record("usage", title: layer)
            for t in model.usage.tasks(in: layer) {
                guard let p = model.usage.percentages(layer: layer, task: t) else { continue }
                let top = p.enumerated().sorted { $0.element > $1.element }.prefix(3)
                row.set(t, .string(top.map { "e\($0.offset) \(String(format: "%.0f", $0.element))%" }.joined(separator: " ")))
            }
            r.set(layer, .object(row))
        }
        if model.usage.layers.isEmpty { r.customSummary = "usage: no statistics yet (train first)" }
        return r
    }

    /// What the language keeps beside the weights in a checkpoint: the model's kind, whether it trains with
    /// the MI loss (baselines do not), and its training seconds (for cost tables after `load`).
    var scriptMetadata: [String: String] {
        var m = ["msq.label": label, "msq.uses_mi": usesMI ? "1" : "0", "msq.train_seconds": String(trainSeconds)]
        if let n = inputNormalization {   // "mean,mean,…;std,std,…" per image channel
            m["msq.normalization"] = n.mean.map { "\($0)" }.joined(separator: ",") + ";" + n.std.map { "\($0)" }.joined(separator: ",")
        }
        return m
    }
    func restoreScriptMetadata(_ meta: [String: String]) {
        if let n = meta["msq.normalization"]?.split(separator: ";").map({ $0.split(separator: ",").compactMap { Float($0) } }),
           n.count == 2, n[0].count == model.config.channels, n[1].count == n[0].count,
           n.joined().allSatisfy({ $0.isFinite }), n[1].allSatisfy({ $0 > 0 }) {
            storedNormalization = (n[0], n[1])
        }
        if let l = meta["msq.label"], !l.isEmpty { label = l }
        if let u = meta["msq.uses_mi"] { usesMI = u != "0" }
        if let s = meta["msq.train_seconds"].flatMap(Double.init), s.isFinite, s >= 0 { trainSeconds = s }
    }

    func record(_ log: StepLog) { history.append(log) }
    func record(eval: EvalPoint) { evals.append(eval) }
}

/// A distinct name per model for legends and column groups: its variable's name (else its label), and
/// "squad 2", "squad 3" ... for names that would still be equal.
public func displayNames(_ ms: [ModelValue]) -> [String] {
    let base = ms.map { $0.name ?? $0.label }
    var seen: [String: Int] = [:], out: [String] = []
    for b in base {
        seen[b, default: 0] += 1
        var n = seen[b]! == 1 ? b : "\(b) \(seen[b]!)"
        while base.contains(n) && n != b || out.contains(n) { seen[b]! += 1; n = "\(b) \(seen[b]!)" }
        out.append(n)
    }
    return out
}

/// The names of a model's MoE sublayers: blocks.i.attn / blocks.i.mlp.
public func moeLayerNames(_ m: SquadModel) -> [String] { m.config.moeLayers.map(\.name) }

/// 1234567 -> "1.23M".
public func formatCount(_ n: Int) -> String {
    if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return String(n)
}

// Checks what plugins return at the boundary (loss and aux-loss shapes, metric names, gates), so a careless
// plugin's result is an error naming the plugin and the method, not a failure deep inside the core.
import Foundation
import SquadTensor
import ModSquad

/// A plugin returned something the core cannot use: "task plugin 'centroid': loss returned shape [32, 2], expected a scalar".
public struct PluginResultError: Error, CustomStringConvertible, Equatable {
    public let kind: String, plugin: String, method: String, message: String
    public init(kind: String, plugin: String, method: String, message: String) {
        self.kind = kind; self.plugin = plugin; self.method = method; self.message = message
    }
    public var description: String { "\(kind) plugin '\(plugin)': \(method) \(message)" }
}

public enum PluginBoundary {
    /// `value` when it is a scalar ([] or [1]), else an error naming the plugin and method.
    public static func scalar(_ value: Tensor, kind: String, plugin: String, method: String) throws -> Tensor {
        guard value.count == 1, value.shape.allSatisfy({ $0 == 1 }), value.ndim <= 1 else {
            throw PluginResultError(kind: kind, plugin: plugin, method: method,
                                    message: "returned shape \(value.shape), expected a scalar ([1] or [])")
        }
        return value
    }

    /// A task plugin's metrics, their names checked: non-empty and unique.
    public static func metrics(_ p: TaskPlugin, _ prediction: Tensor, _ target: TaskTarget) throws -> [Metric] {
        let ms = try p.metrics(prediction, target)
        var seen = Set<String>()
        for m in ms {
            guard !m.name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw PluginResultError(kind: "task", plugin: p.name, method: "metrics", message: "returned a metric with an empty name")
            }
            guard seen.insert(m.name).inserted else {
                throw PluginResultError(kind: "task", plugin: p.name, method: "metrics", message: "returned the metric '\(m.name)' twice")
            }
        }
        return ms
    }

    /// A gating's decision checked against its input: rows × k choices and gates, experts in range, finite gates.
    public static func gates(_ d: GateDecision, input: GateInput, plugin: String) throws -> GateDecision {
        let rows = input.logits.shape.first ?? 0, experts = input.logits.shape.last ?? 0, k = input.topK
        func bad(_ m: String) -> PluginResultError { PluginResultError(kind: "gating", plugin: plugin, method: "gate", message: m) }
        guard d.choices.count == rows * k else { throw bad("returned \(d.choices.count) choices, expected \(rows) rows × k \(k) = \(rows * k)") }
        guard d.gates.count == rows * k else { throw bad("returned gates of shape \(d.gates.shape), expected \(rows * k) values (rows × k)") }
        if let e = d.choices.first(where: { $0 < -1 || $0 >= experts }) { throw bad("returned expert \(e), expected -1 (no expert) or 0..<\(experts)") }
        if let g = d.gates.array.first(where: { !$0.isFinite }) { throw bad("returned a non-finite gate (\(g))") }
        return d
    }
}

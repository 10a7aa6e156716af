// The plugin registry: named factories for tasks, datasets, aux losses and
// gatings, each with the source that registered it. A name registered twice is an
// error naming both sources; a lookup miss lists the known names.
import Foundation
import SquadTensor
import ModSquad

public enum PluginError: Error, CustomStringConvertible, Equatable {
    case duplicate(kind: String, name: String, existing: String, new: String)
    case unknown(kind: String, name: String, known: [String])
    case badArgument(owner: String, parameter: String, message: String)
    case load(path: String, message: String)
    case failed(plugin: String, message: String)

    public var description: String {
        switch self {
        case let .duplicate(k, n, a, b): return "\(k) '\(n)' is registered twice: by \(a) and by \(b)"
        case let .unknown(k, n, known):
            let near = known.min { editDistance($0, n) < editDistance($1, n) }
            let hint = near.map { editDistance($0, n) <= max(2, n.count / 3) ? " (did you mean '\($0)'?)" : "" } ?? ""
            return "unknown \(k) '\(n)'\(hint); known: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
        case let .badArgument(o, p, m): return "\(o): parameter '\(p)' \(m)"
        case let .load(p, m): return "\(p): \(m)"
        case let .failed(p, m): return "plugin \(p): \(m)"
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count), cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count { cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)) }
        swap(&prev, &cur)
    }
    return prev[y.count]
}

public final class PluginRegistry: @unchecked Sendable {
    /// The process-wide registry (shared with .so plugins through the one core library).
    public static let shared = PluginRegistry()

    struct Entry<T> { let value: T; let source: String }
    private var tasks: [String: Entry<TaskPlugin>] = [:]
    private var datasets: [String: Entry<DatasetPlugin>] = [:]
    private var auxLosses: [String: Entry<AuxLossPlugin>] = [:]
    private var gatings: [String: Entry<GatingPlugin>] = [:]
    private let lock = NSLock()
    /// Where registrations currently come from ("built-in", a .so path, ...).
    public var currentSource = "built-in"
    /// Libraries PluginLoader loaded into this registry: resolved path -> the path as given.
    var loadedLibraries: [String: String] = [:]

    public init() {}

    private func add<T>(_ table: inout [String: Entry<T>], _ kind: String, _ name: String, _ value: T) throws {
        lock.lock(); defer { lock.unlock() }
        if let old = table[name] { throw PluginError.duplicate(kind: kind, name: name, existing: old.source, new: currentSource) }
        table[name] = Entry(value: value, source: currentSource)
    }
    private func get<T>(_ table: [String: Entry<T>], _ kind: String, _ name: String) throws -> T {
        lock.lock(); defer { lock.unlock() }
        guard let e = table[name] else { throw PluginError.unknown(kind: kind, name: name, known: table.keys.sorted()) }
        return e.value
    }

    public func register(task p: TaskPlugin) throws { try add(&tasks, "task", p.name, p) }
    public func register(dataset p: DatasetPlugin) throws { try add(&datasets, "dataset", p.name, p) }
    public func register(auxLoss p: AuxLossPlugin) throws { try add(&auxLosses, "aux loss", p.name, p) }
    public func register(gating p: GatingPlugin) throws { try add(&gatings, "gating", p.name, p) }

    public func task(_ name: String) throws -> TaskPlugin { try get(tasks, "task", name) }
    public func dataset(_ name: String) throws -> DatasetPlugin { try get(datasets, "dataset", name) }
    public func auxLoss(_ name: String) throws -> AuxLossPlugin { try get(auxLosses, "aux loss", name) }
    public func gating(_ name: String) throws -> GatingPlugin { try get(gatings, "gating", name) }

    /// The registrations as they are now, to roll back a plugin that failed half-way.
    public struct Snapshot {
        fileprivate let tasks: [String: Entry<TaskPlugin>], datasets: [String: Entry<DatasetPlugin>]
        fileprivate let auxLosses: [String: Entry<AuxLossPlugin>], gatings: [String: Entry<GatingPlugin>]
    }
    public func snapshot() -> Snapshot {
        lock.lock(); defer { lock.unlock() }
        return Snapshot(tasks: tasks, datasets: datasets, auxLosses: auxLosses, gatings: gatings)
    }
    public func restore(_ s: Snapshot) {
        lock.lock(); defer { lock.unlock() }
        tasks = s.tasks; datasets = s.datasets; auxLosses = s.auxLosses; gatings = s.gatings
    }

    /// Every registration: kind, name, source, summary.
    public func listing() -> [(kind: String, name: String, source: String, summary: String)] {
        lock.lock(); defer { lock.unlock() }
        var out: [(String, String, String, String)] = []
        for (n, e) in tasks.sorted(by: { $0.key < $1.key }) { out.append(("task", n, e.source, e.value.summary)) }
        for (n, e) in datasets.sorted(by: { $0.key < $1.key }) { out.append(("dataset", n, e.source, e.value.summary)) }
        for (n, e) in auxLosses.sorted(by: { $0.key < $1.key }) { out.append(("aux loss", n, e.source, e.value.summary)) }
        for (n, e) in gatings.sorted(by: { $0.key < $1.key }) { out.append(("gating", n, e.source, e.value.summary)) }
        return out
    }
    public var taskNames: [String] { lock.lock(); defer { lock.unlock() }; return tasks.keys.sorted() }
    public var datasetNames: [String] { lock.lock(); defer { lock.unlock() }; return datasets.keys.sorted() }
    public var auxLossNames: [String] { lock.lock(); defer { lock.unlock() }; return auxLosses.keys.sorted() }
    public var gatingNames: [String] { lock.lock(); defer { lock.unlock() }; return gatings.keys.sorted() }

    /// Applies a gating strategy to a config: its name, a shared router if the strategy
    /// wants one, and k = the number of experts for dense gating.
    public func configure(_ config: inout SquadConfig, gating name: String) throws {
        let g = try gating(name)
        config.gate.strategy = name
        if g.sharedRouter { config.gate.mode = .shared }
        if g.usesAllExperts {
            config.blocks = config.blocks.map { b in
                var b = b
                if case let .moa(e, _) = b.attention { b.attention = .moa(experts: e, topK: e) }
                if case let .moe(e, _) = b.mlp { b.mlp = .moe(experts: e, topK: e) }
                return b
            }
        }
    }

    /// Connects a model and its trainer to the plugins: task losses of specs with a plugin,
    /// and gating strategies of routers whose strategy is not the built-in "topk".
    public func bind(_ model: SquadModel, trainer: Trainer? = nil, auxWeights: [String: Float] = [:]) throws {
        for r in model.routers where r.options.strategy != "topk" {
            let g = try gating(r.options.strategy)
            let name = g.name
            r.gating = { input, rng in
                let d: GateDecision
                do { d = try g.gate(input, rng: &rng) }
                catch let e as PluginError { throw e }
                catch { throw PluginError.failed(plugin: name, message: "gating failed: \(error)") }
                return try PluginBoundary.gates(d, input: input, plugin: name)
            }
        }
        guard let tr = trainer else { return }
        var plugins: [String: TaskPlugin] = [:]
        for s in model.config.tasks { if let p = s.plugin { plugins[s.name] = try task(p) } }
        if !plugins.isEmpty {
            tr.deriveTargets = { images, given in
                var all = given
                for (name, p) in plugins where all[name] == nil {
                    if let t = try p.derivedTarget(images: images, targets: given) { all[name] = t }
                }
                return all
            }
            tr.lossFunction = { spec, pred, target in
                if let p = plugins[spec.name] {
                    let l: Tensor
                    do { l = try p.loss(pred, target) }
                    catch let e as PluginError { throw e }
                    catch let e as TensorError { throw e }
                    catch { throw PluginError.failed(plugin: p.name, message: "loss failed: \(error)") }
                    return try PluginBoundary.scalar(l, kind: "task", plugin: p.name, method: "loss")
                }
                return try TaskHead.loss(spec, pred, target)
            }
        }
        tr.extraAux = try auxWeights.sorted { $0.key < $1.key }.map { name, w in
            let p = try auxLoss(name)
            return (name: name, weight: w, loss: { rec in
                let l: Tensor
                do { l = try p.loss(rec) }
                catch let e as PluginError { throw e }
                catch { throw PluginError.failed(plugin: name, message: "aux loss failed: \(error)") }
                return try PluginBoundary.scalar(l, kind: "aux loss", plugin: name, method: "loss")
            })
        }
    }
}

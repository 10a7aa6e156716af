// The Module base class: dotted parameter names (`blocks.3.mlp.fc1.weight`),
// explicit children and parameters, train/eval mode, freezing.
import SquadTensor

public struct NamedParameter {
    public let name: String
    public let tensor: Tensor
    /// False for 1-D tensors (biases, norms) and embeddings: AdamW skips their decay.
    public let decays: Bool
    public init(name: String, tensor: Tensor, decays: Bool) { self.name = name; self.tensor = tensor; self.decays = decays }
}

/// Errors of layers and models: each carries the parameter path or module it concerns.
public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case missingParameter(path: String)
    case unexpectedParameter(path: String)
    case shapeMismatch(path: String, expected: [Int], found: [Int])
    case invalidConfig(String)
    /// A number of a configuration out of its range, by the name the user gave it.
    case invalidParameter(name: String, message: String)

    public var description: String {
        switch self {
        case .missingParameter(let p): return "\(p): missing from the checkpoint"
        case .unexpectedParameter(let p): return "\(p): in the checkpoint but not in the model"
        case let .shapeMismatch(p, e, f): return "\(p): expected shape \(e), found \(f)"
        case .invalidConfig(let m): return "invalid configuration: \(m)"
        case let .invalidParameter(n, m): return "\(n) \(m)"
        }
    }
}

open class Module {
    /// Training mode (dropout, noise, statistics) or evaluation.
    public private(set) var training = true

    public init() {}

    /// This module's own tensors, by local name.
    open var localParameters: [(String, Tensor)] { [] }
    /// Child modules, by local name.
    open var children: [(String, Module)] { [] }

    /// Every module below this one, depth first, with its dotted path.
    public func descendants(prefix: String = "") -> [(String, Module)] {
        children.flatMap { (n, m) in [(prefix + n, m)] + m.descendants(prefix: prefix + n + ".") }
    }
    /// Whether AdamW decays this local parameter (default: 2-D and up).
    open func decays(_ localName: String, _ t: Tensor) -> Bool { t.ndim >= 2 }

    /// Every parameter below this module with its dotted name, in declaration order.
    public func parameters(prefix: String = "") -> [NamedParameter] {
        var out: [NamedParameter] = []
        for (n, t) in localParameters {
            out.append(NamedParameter(name: prefix + n, tensor: t, decays: decays(n, t)))
        }
        for (n, m) in children { out += m.parameters(prefix: prefix + n + ".") }
        return out
    }

    /// Parameters that currently receive gradients.
    public func trainableParameters() -> [NamedParameter] { parameters().filter { $0.tensor.requiresGrad } }

    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.tensor.count } }

    public func parameter(_ name: String) -> Tensor? { parameters().first { $0.name == name }?.tensor }

    /// Sets training mode on this module and every child.
    public func train(_ on: Bool = true) {
        training = on
        for (_, c) in children { c.train(on) }
    }
    public func eval() { train(false) }

    /// Stops gradients for every parameter whose dotted name starts with `prefix` ("" = all).
    public func freeze(_ prefix: String = "") { setTrainable(false, prefix) }
    public func unfreeze(_ prefix: String = "") { setTrainable(true, prefix) }
    func setTrainable(_ on: Bool, _ prefix: String) {
        for p in parameters() where p.name.hasPrefix(prefix) { p.tensor.requiresGrad = on; if !on { p.tensor.grad = nil } }
    }

    public func zeroGrad() { for p in parameters() { p.tensor.grad = nil } }

    /// Names each parameter tensor by its dotted path (for messages).
    public func nameParameters() { for p in parameters() { p.tensor.name = p.name } }

    /// Copies values from `tensors` by dotted name; every parameter must be present
    /// with its shape (strict), or only those present are loaded (strict: false).
    public func load(_ tensors: [String: Tensor], strict: Bool = true) throws {
        let params = parameters()
        for p in params {
            guard let t = tensors[p.name] else {
                if strict { throw ModuleError.missingParameter(path: p.name) }
                continue
            }
            guard t.shape == p.tensor.shape else { throw ModuleError.shapeMismatch(path: p.name, expected: p.tensor.shape, found: t.shape) }
        }
        if strict {
            let known = Set(params.map(\.name))
            if let extra = tensors.keys.sorted().first(where: { !known.contains($0) }) { throw ModuleError.unexpectedParameter(path: extra) }
        }
        for p in params { if let t = tensors[p.name] { try p.tensor.assign(t) } }
    }

    /// Parameter values by dotted name (shares storage).
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for p in parameters() { d[p.name] = p.tensor }
        return d
    }
}

/// An ordered list of modules named 0, 1, 2, ...
public final class ModuleList<M: Module>: Module {
    public var items: [M]
    public init(_ items: [M]) { self.items = items }
    public override var children: [(String, Module)] { items.enumerated().map { (String($0.offset), $0.element as Module) } }
    public subscript(i: Int) -> M { items[i] }
    public var count: Int { items.count }
}

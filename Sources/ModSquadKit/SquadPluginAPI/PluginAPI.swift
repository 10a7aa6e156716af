// The plugin API: what a task, dataset, aux-loss or gating plugin provides. Built-in
// plugins (Plugins/) and outside .so plugins implement exactly these protocols.
import SquadTensor
import SquadNN
import ModSquad

/// The plugin API's version, bumped by hand when its contract changes (2: ParameterInfo.range, DrawnMark).
public let pluginABIVersion: Int32 = pluginABIVersionCompiled

/// The version as the code that uses it was compiled (emitted into a plugin's own binary).
@_alwaysEmitIntoClient
public var pluginABIVersionCompiled: Int32 { 2 }

/// What `modsquad_plugin_abi` returns and the loader compares: the version in the top 8 bits and, below, a hash
/// of the sizes and strides of the value types plugins exchange with the core, as the caller was compiled. The body
/// is emitted into the plugin, so a plugin built against a core whose public layouts differ reports another
/// identity and is refused, even when nobody bumped the version. (Classes such as `Tensor` are references: their
/// size does not show a change; the version covers them.)
@_alwaysEmitIntoClient
public var pluginABIIdentity: Int32 {
    let sizes: [Int] = [
        MemoryLayout<TaskSpec>.size, MemoryLayout<TaskSpec>.stride, MemoryLayout<TaskTarget>.size, MemoryLayout<TaskKind>.size,
        MemoryLayout<TaskLoss>.size, MemoryLayout<Metric>.size, MemoryLayout<MetricInfo>.size, MemoryLayout<Picture>.size,
        MemoryLayout<GateInput>.size, MemoryLayout<GateDecision>.size, MemoryLayout<RouterRecord>.size,
        MemoryLayout<TaskSegment>.size, MemoryLayout<ParameterInfo>.size, MemoryLayout<PluginValue>.size,
        MemoryLayout<DrawnMark>.size, MemoryLayout<PluginArguments>.size,
    ]
    var h: UInt32 = 2_166_136_261   // FNV-1a over the sizes
    for v in sizes { h = (h ^ UInt32(truncatingIfNeeded: v)) &* 16_777_619 }
    return (pluginABIVersionCompiled << 24) | Int32(bitPattern: h & 0x00FF_FFFF)
}

/// "version V, layout XXXXXX" of an identity, for messages.
public func describeABIIdentity(_ id: Int32) -> String {
    "version \(id >> 24), layout " + String(UInt32(bitPattern: id) & 0x00FF_FFFF, radix: 16)
}

/// A value passed from the language to a plugin factory (`scenes(size: 32, tasks: [...])`).
public enum PluginValue: Equatable, CustomStringConvertible {
    case number(Double), string(String), bool(Bool), list([PluginValue])
    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return String(b)
        case .list(let l): return "[" + l.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// One documented parameter of a plugin factory (used by help, completion and checks).
public struct ParameterInfo: Equatable {
    public let name: String, type: String, defaultValue: String?, doc: String
    /// The numbers an int or number parameter takes (checked, and shown by help, before `make` is called).
    public let range: ClosedRange<Double>?
    public init(_ name: String, _ type: String, default d: String? = nil, _ doc: String, range: ClosedRange<Double>? = nil) {
        self.name = name; self.type = type; self.defaultValue = d; self.doc = doc; self.range = range
    }
}

/// Named arguments with typed accessors whose errors name the parameter and what it expected.
public struct PluginArguments {
    public let owner: String
    public private(set) var values: [String: PluginValue]
    public init(owner: String, _ values: [String: PluginValue]) { self.owner = owner; self.values = values }

    func bad(_ name: String, _ expected: String, _ got: PluginValue) -> PluginError {
        .badArgument(owner: owner, parameter: name, message: "expected \(expected), got \(got)")
    }
    public func int(_ name: String, default d: Int? = nil) throws -> Int {
        guard let v = values[name] else { if let d = d { return d }; throw PluginError.badArgument(owner: owner, parameter: name, message: "is required") }
        guard case .number(let x) = v, x == x.rounded(), abs(x) < 1e12 else { throw bad(name, "an integer", v) }
        return Int(x)
    }
    public func double(_ name: String, default d: Double? = nil) throws -> Double {
        guard let v = values[name] else { if let d = d { return d }; throw PluginError.badArgument(owner: owner, parameter: name, message: "is required") }
        guard case .number(let x) = v else { throw bad(name, "a number", v) }
        return x
    }
    public func string(_ name: String, default d: String? = nil) throws -> String {
        guard let v = values[name] else { if let d = d { return d }; throw PluginError.badArgument(owner: owner, parameter: name, message: "is required") }
        guard case .string(let s) = v else { throw bad(name, "a string", v) }
        return s
    }
    public func bool(_ name: String, default d: Bool? = nil) throws -> Bool {
        guard let v = values[name] else { if let d = d { return d }; throw PluginError.badArgument(owner: owner, parameter: name, message: "is required") }
        guard case .bool(let b) = v else { throw bad(name, "true or false", v) }
        return b
    }
    public func strings(_ name: String, default d: [String]? = nil) throws -> [String] {
        guard let v = values[name] else { if let d = d { return d }; throw PluginError.badArgument(owner: owner, parameter: name, message: "is required") }
        guard case .list(let l) = v else { throw bad(name, "a list of strings", v) }
        return try l.map { guard case .string(let s) = $0 else { throw bad(name, "a list of strings", v) }; return s }
    }
    /// Throws for any argument not in `known`, suggesting the nearest name.
    public func checkKnown(_ known: [String]) throws {
        for k in values.keys.sorted() where !known.contains(k) {
            throw PluginError.badArgument(owner: owner, parameter: k, message: "unknown parameter; known: \(known.joined(separator: ", "))")
        }
    }
}

/// An RGB picture, values in [0, 1], [3, H, W]; what plots draw for a task's maps.
public struct Picture {
    public var rgb: Tensor
    public var caption: String
    public init(rgb: Tensor, caption: String = "") { self.rgb = rgb; self.caption = caption }
}

/// A mark a task draws on its sample's input image, in the image's pixel coordinates (x right, y down).
public struct DrawnMark: Equatable {
    public enum Shape: Equatable {
        /// A point (a cross and a ring), e.g. a keypoint or a centre.
        case point(x: Double, y: Double)
        /// An axis-aligned box from (x, y) with this width and height.
        case box(x: Double, y: Double, width: Double, height: Double)
        /// A line of text at the image's top left (stacked in order).
        case text(String)
    }
    /// Whose answer the mark shows: the truth is drawn in green, the prediction in orange.
    public enum Role: Equatable { case truth, prediction }
    public let shape: Shape
    public let role: Role
    public let label: String
    public init(_ shape: Shape, role: Role, label: String = "") { self.shape = shape; self.role = role; self.label = label }
}

/// Optional for a task plugin: draws a sample's answers on its input image (global tasks that locate something:
/// a centroid, keypoints, boxes). plot_predictions then shows the input with the true and predicted marks together.
public protocol InputDrawingTask {
    /// `image` [C, H, W]: the sample's input as the plot shows it; `prediction` [B, C] or [B, C, H, W] and `target`
    /// for the whole batch (as `picture` gets them), `index` the sample. Return marks in the image's pixels.
    func marks(image: Tensor, prediction: Tensor, target: TaskTarget?, index: Int) throws -> [DrawnMark]
}

public struct MetricInfo: Equatable {
    public let name: String, higherIsBetter: Bool
    public init(_ name: String, higherIsBetter: Bool) { self.name = name; self.higherIsBetter = higherIsBetter }
}

/// A vision task: its output, loss, metrics, and how to draw its maps.
public protocol TaskPlugin: AnyObject {
    var name: String { get }
    var summary: String { get }
    var kind: TaskKind { get }
    /// Output channels (dense) or classes / outputs (global).
    var channels: Int { get }
    var metricInfo: [MetricInfo] { get }
    /// pred [B, C, H, W] or [B, C]; the target as the dataset gives it. -> [1] (in the graph)
    func loss(_ prediction: Tensor, _ target: TaskTarget) throws -> Tensor
    func metrics(_ prediction: Tensor, _ target: TaskTarget) throws -> [Metric]
    /// Draws sample `index` of a prediction (or of a target) as a picture.
    func picture(prediction: Tensor?, target: TaskTarget?, index: Int) throws -> Picture
    /// A target computed from the batch itself, for tasks no dataset labels (self-supervised
    /// tasks such as colorization or denoising); nil when the dataset must provide it.
    /// `images` [B, C, H, W] are the dataset's images (values in [0, 1], up to float rounding), after flips and before the
    /// per-channel normalisation the model's input gets.
    func derivedTarget(images: Tensor, targets: [String: TaskTarget]) throws -> TaskTarget?
}

extension TaskPlugin {
    public func derivedTarget(images: Tensor, targets: [String: TaskTarget]) throws -> TaskTarget? { nil }
}

/// A task plugin whose loss is one of the built-in loss kinds (the built-in tasks are): lets exports such as
/// `save_batches` name the loss for another framework. Optional; a plugin with its own loss does not adopt it.
public protocol StandardLossTask {
    /// The built-in loss kind the plugin's loss equals; nil when it has a loss of its own.
    var standardLoss: TaskLoss? { get }
}

extension TaskPlugin {
    /// The spec the model needs for this task (its head size and kind).
    public func spec(weight: Float = 1) -> TaskSpec {
        var s = TaskSpec(name, kind: kind, channels: channels, loss: .l1, weight: weight)
        s.plugin = name
        return s
    }
}

/// A source of multi-task samples: images and every task's targets.
public protocol MultiTaskDataset: AnyObject {
    var name: String { get }
    var summary: String { get }
    var imageSize: Int { get }
    var channels: Int { get }
    /// Task plugin names this dataset provides targets for.
    var taskNames: [String] { get }
    func count(_ split: DataSplit) -> Int
    /// A batch of the given sample indices of a split: images [B, C, S, S] and targets by task.
    func batch(_ split: DataSplit, _ indices: [Int]) throws -> (images: Tensor, targets: [String: TaskTarget])
}

public enum DataSplit: String, Sendable { case train, test }

public protocol DatasetPlugin: AnyObject {
    var name: String { get }
    var summary: String { get }
    var parameters: [ParameterInfo] { get }
    func make(_ args: PluginArguments) throws -> MultiTaskDataset
}

/// A loss over one MoE layer's routing statistics.
public protocol AuxLossPlugin: AnyObject {
    var name: String { get }
    var summary: String { get }
    var defaultWeight: Float { get }
    func loss(_ record: RouterRecord) throws -> Tensor
}

/// A routing strategy: from router logits to chosen experts and gates.
public protocol GatingPlugin: AnyObject {
    var name: String { get }
    var summary: String { get }
    /// True when the strategy uses one router shared by all tasks (conditioned on the task
    /// embedding, M3ViT-like) instead of a router per task.
    var sharedRouter: Bool { get }
    /// Whether it needs k = the number of experts (dense softmax gating).
    var usesAllExperts: Bool { get }
    func gate(_ input: GateInput, rng: inout RNG) throws -> GateDecision
}

extension GatingPlugin {
    public var sharedRouter: Bool { false }
    public var usesAllExperts: Bool { false }
}
